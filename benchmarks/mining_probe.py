"""Does patch info mining carry the fine detail the LR view loses? A probe, without the LLM.

On the demo's synthetic "texture" task, train (a) the mining projections plus a small per-token MLP head
with max-pooling over tokens, and (b) the same head on LR-only tokens; print held-out accuracy. The towers
are the demo's frozen random ones. `--attention` instead reports how the demo's from-scratch LLM attends at
initialisation (the other half of the question: can the LLM learn to read those tokens?).
Usage: python benchmarks/mining_probe.py [--n 900] [--steps 150] [--pool max|mean] [--attention]
"""

from __future__ import annotations

import argparse
import time

import torch
from PIL import Image

from minigemini.data.synthetic import iter_samples
from minigemini.demo.runner import DemoSettings, Variant, model_spec
from minigemini.training.build import build_tiny
from minigemini.training.recipe import ModelSpec


def init_attention(qk_std: float | None) -> tuple[float, float]:
    """(std of the attention logits, mean largest softmax weight) of the demo LLM's first layer at init,
    on a real demo prompt (36 visual tokens and the question), for a given query/key init std."""
    geometry = DemoSettings()
    sample = next(iter(iter_samples(5, "train", 1, hr_size=geometry.hr_size, lr_size=geometry.lr_size)))
    spec = model_spec(Variant("probe", True), 0, [sample.answer], geometry.lr_size, geometry.hr_size)
    if qk_std is not None:
        spec["tiny"]["llm_qk_init_std"] = qk_std
    model, processor = build_tiny(ModelSpec(**spec))
    inputs = processor(text=f"<image>\n{sample.question}", images=[Image.fromarray(sample.image)])
    with torch.no_grad():
        embeds = model.embed_with_images(inputs["input_ids"], model.get_image_features(
            inputs["pixel_values"], inputs["pixel_values_aux"]).pooler_output)
        attn = model.language_model.model.layers[0].self_attn
        x = model.language_model.model.layers[0].input_layernorm(embeds)
        t, d = x.shape[1], attn.head_dim
        q = attn.q_proj(x).view(1, t, -1, d).transpose(1, 2)
        k = attn.k_proj(x).view(1, t, -1, d).transpose(1, 2).repeat_interleave(q.shape[1] // (attn.k_proj.out_features // d), 1)
        logits = (q @ k.transpose(-1, -2)) / d**0.5
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        weights = logits.masked_fill(~causal, float("-inf")).softmax(-1)
    return logits[..., causal].std().item(), weights[..., t // 2 :, :].amax(-1).mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=900)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--pool", choices=("max", "mean"), default="max")
    parser.add_argument("--attention", action="store_true", help="report the LLM's attention at init and exit")
    args = parser.parse_args()
    if args.attention:
        for label, qk in (("query/key at the demo's llm_qk_init_std", None), ("query/key at llm_init_std 0.3", 0.3)):
            std, top = init_attention(qk)
            print(f"{label:40s} attention logit std {std:5.2f}, mean largest weight (2nd half of rows) {top:.2f}")
        return
    torch.manual_seed(0)
    geometry = DemoSettings()
    samples = list(iter_samples(5, "train", args.n, tasks=("texture",), hr_size=geometry.hr_size,
                                lr_size=geometry.lr_size))
    labels = sorted({s.answer for s in samples})
    y = torch.tensor([labels.index(s.answer) for s in samples])
    n_fit = int(args.n * 0.78)
    print(f"texture task: {len(labels)} classes, {n_fit} fit / {args.n - n_fit} held out, pool={args.pool}")
    for mining in (True, False):
        spec = ModelSpec(**model_spec(Variant("probe", mining), 0, labels, geometry.lr_size, geometry.hr_size))
        model, processor = build_tiny(spec)
        model.eval()
        inputs = processor.image_processor([Image.fromarray(s.image) for s in samples])
        with torch.no_grad():
            lr = model.vision_tower(inputs["pixel_values"].flatten(0, 1))
            stages = model.aux_vision_tower(inputs["pixel_values_aux"]) if mining else None
        head = torch.nn.Sequential(torch.nn.Linear(lr.shape[-1], 128), torch.nn.GELU(), torch.nn.Linear(128, len(labels)))
        params = list(head.parameters()) + (list(model.mining.parameters()) if mining else [])
        optimizer = torch.optim.Adam(params, lr=3e-3)

        def logits(idx: torch.Tensor) -> torch.Tensor:
            x = lr[idx]
            if mining:
                x = model.mining(x[:, None], [s[idx] for s in stages], stages[0].shape[-1])[:, 0]
            per_token = head(x)
            return per_token.amax(1) if args.pool == "max" else per_token.mean(1)

        start = time.perf_counter()
        for _ in range(args.steps):
            idx = torch.randint(0, n_fit, (32,))
            loss = torch.nn.functional.cross_entropy(logits(idx), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            held = torch.arange(n_fit, args.n)
            acc = (logits(held).argmax(1) == y[held]).float().mean().item()
        name = "MGM tokens (LR + mined HR)" if mining else "LR-only tokens"
        print(f"{name:28s} held-out accuracy {acc:.3f}  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
