"""Per-stage inference timings of Mini-Gemini at real size (random weights, nothing downloaded).

    .venv/bin/python benchmarks/inference.py            # normal + HD, fp32, median of 3 after a warm-up
    .venv/bin/python benchmarks/inference.py --quick    # normal only, median of 1 after a warm-up, 8 decode tokens
    .venv/bin/python benchmarks/inference.py --dtype bf16 --configs hd

Towers: CLIP ViT-L/14-336 and ConvNeXt-L (`convnext_large_d_320`: dims 192/384/768/1536, depths 3/3/27/3).
LLM: a SmolLM2-135M-sized Llama config. One 640x480 photo, a vicuna-style prompt, a 32-token greedy answer.

Mining is timed twice in the same run: ours (factorised, never builds the 2880-channel map) and the plain
official formula (upsample + concat the four stages, permute into windows, LayerNorm+Linear at every HR
position, windowed attention), so the ratio is measured side by side. The official-style path processes the
HD crops one view at a time to bound this shared machine's memory (same FLOPs as the official batched call).

Peak RSS is measured in a separate process that only builds the model and answers once (`--answer-only`).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from minigemini.configuration import MiniGeminiConfig
from minigemini.modeling import MiniGeminiForConditionalGeneration
from minigemini.processing import MiniGeminiProcessor, add_image_token
from minigemini.tiny import build_tiny_tokenizer

SMOLLM2_135M = dict(
    model_type="llama",
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    head_dim=64,
    max_position_embeddings=8192,
    rms_norm_eps=1e-5,
    rope_theta=100000.0,
    tie_word_embeddings=True,
)
CONFIGS = {
    "normal": dict(aux_image_size=768, image_grid=1, image_global=False),
    "hd": dict(aux_image_size=1536, image_grid=2, image_global=True),
}
PROMPT = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions. USER: <image>\nDescribe the picture in detail. ASSISTANT:"
)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def photo(w: int = 640, h: int = 480) -> Image.Image:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / (w - 1), yy * 255 / (h - 1), (xx ^ yy) % 256], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8))


def build(config_name: str, dtype: torch.dtype):
    tokenizer = build_tiny_tokenizer()
    config = MiniGeminiConfig(
        text_config=dict(SMOLLM2_135M),
        image_token_id=add_image_token(tokenizer),
        tokenizer_model_max_length=4096,
        **CONFIGS[config_name],
    )
    torch.manual_seed(0)
    model = MiniGeminiForConditionalGeneration(config).eval().to(dtype)
    return model, MiniGeminiProcessor.from_config(tokenizer, config)


WARMUP = 1


def timed(fn, repeats: int):
    """`WARMUP` untimed runs (1 by default), then the median of `repeats` runs; returns (median s, last result)."""
    out = None
    for _ in range(WARMUP):
        out = fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


# ---- the official formula, written plainly --------------------------------------------------------
def official_hr_map(stages: list[torch.Tensor]) -> torch.Tensor:
    """OpenCLIPVisionTower: upsample stages 1-3 (fp32 bilinear) to stage 0's size and concatenate."""
    size = stages[0].shape[-2:]
    maps = [stages[0]] + [
        F.interpolate(s.float(), size=size, mode="bilinear", align_corners=False).to(s.dtype) for s in stages[1:]
    ]
    return torch.cat(maps, dim=1)


def official_unified_resampler(mining, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Official `unified_resampler` + residual: permute the map into windows, LN+Linear everywhere, attend."""
    n, l, d = lr.shape
    grid = math.isqrt(l)
    c, s = hr.shape[1], hr.shape[-1]
    m = s // grid
    win = hr.permute(0, 2, 3, 1).reshape(n, grid, m, grid, m, c).permute(0, 1, 3, 2, 4, 5).reshape(n, l, m * m, c)
    win = win.contiguous()
    q = mining.query_projector(lr)
    k = mining.key_projector(win) / math.sqrt(d)
    v = mining.value_projector(win)
    att = torch.nan_to_num(torch.einsum("nld,nlmd->nlm", q, k))
    return lr + torch.einsum("nlm,nlmd->nld", att.softmax(-1), v)


def official_mining(model, lr_views: torch.Tensor, stages: list[torch.Tensor]) -> torch.Tensor:
    cfg = model.config
    hr = official_hr_map(stages)
    if cfg.image_grid == 1:
        return official_unified_resampler(model.mining, lr_views[:, 0], hr)
    g = cfg.image_grid
    glob = F.interpolate(hr.float(), scale_factor=0.5, mode="bilinear", align_corners=False).to(hr.dtype)
    out = [official_unified_resampler(model.mining, lr_views[:, 0], glob)]
    del glob
    side = hr.shape[-1] // g
    for i in range(g):
        for j in range(g):
            crop = hr[:, :, i * side : (i + 1) * side, j * side : (j + 1) * side]
            out.append(official_unified_resampler(model.mining, lr_views[:, 1 + i * g + j], crop))
    return torch.cat(out, dim=1)


# ---- one configuration ------------------------------------------------------------------------------
def run_config(name: str, dtype: torch.dtype, repeats: int, new_tokens: int) -> dict:
    t0 = time.perf_counter()
    model, processor = build(name, dtype)
    build_s = time.perf_counter() - t0
    image = photo()
    r: dict = {"config": name, "build_s": build_s}
    with torch.inference_mode():
        r["preprocessing"], batch = timed(lambda: processor(PROMPT, [image]), repeats)
        pv, aux = batch["pixel_values"], batch["pixel_values_aux"]
        r["lr_tower"], lr = timed(lambda: model.vision_tower(pv.flatten(0, 1)), repeats)
        lr_views = lr.view(pv.shape[0], pv.shape[1], *lr.shape[1:])
        r["hr_tower"], stages = timed(lambda: model.aux_vision_tower(aux), repeats)

        # ours: the model's own encode_views with the towers' outputs replayed
        real_run_tower = model._run_tower
        model._run_tower = lambda tower, px: lr if tower is model.vision_tower else stages
        try:
            r["mining"], feats = timed(lambda: model.encode_views(pv, aux), repeats)
        finally:
            model._run_tower = real_run_tower
        r["mining_official"], feats_official = timed(lambda: official_mining(model, lr_views, stages), repeats)
        r["mining_max_abs_diff"] = (feats.float() - feats_official.float()).abs().max().item()
        r["mining_rel_diff"] = r["mining_max_abs_diff"] / feats_official.float().abs().max().item()
        del feats_official

        r["projector"], projected = timed(lambda: model.projector(feats), repeats)
        embeds = model.embed_with_images(batch["input_ids"], list(projected))
        r["prompt_tokens"] = embeds.shape[1]
        lm = model.language_model

        def prefill():
            return lm(inputs_embeds=embeds, use_cache=True, logits_to_keep=1)

        r["prefill"], out = timed(prefill, repeats)

        def decode():
            o = prefill()
            cache, tok = o.past_key_values, o.logits[:, -1:].argmax(-1)
            t = time.perf_counter()
            for _ in range(new_tokens - 1):
                o = lm(input_ids=tok, past_key_values=cache, use_cache=True)
                tok = o.logits[:, -1:].argmax(-1)
            return (new_tokens - 1) / (time.perf_counter() - t)

        rates = [decode() for _ in range(repeats + WARMUP)][WARMUP:]
        r["decode_tok_s"] = statistics.median(rates)
    return r


def answer_only(name: str, dtype: torch.dtype, new_tokens: int) -> dict:
    """Build, answer once (processor + generate), report wall time and peak RSS of this process."""
    model, processor = build(name, dtype)
    t = time.perf_counter()
    with torch.inference_mode():
        batch = processor(PROMPT, [photo()])
        model.generate(**batch, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
    answer_s = time.perf_counter() - t
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"answer_s": answer_s, "peak_rss_gib": peak_kib / 2**20}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=None)
    p.add_argument("--dtype", choices=list(DTYPES), default="fp32")
    p.add_argument("--repeats", type=int, default=None, help="timed runs after the warm-up (default 3; 1 with --quick)")
    p.add_argument("--new-tokens", type=int, default=None, help="decode length (default 32; 8 with --quick)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones (default 1)")
    p.add_argument("--quick", action="store_true", help="normal config only, 1 timed run, 8 tokens")
    p.add_argument("--no-rss", action="store_true", help="skip the answer-only subprocess")
    p.add_argument("--answer-only", default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help="also write the figures to this file")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    global WARMUP
    WARMUP = a.warmup
    dtype = DTYPES[a.dtype]
    repeats = a.repeats or (1 if a.quick else 3)
    new_tokens = a.new_tokens or (8 if a.quick else 32)
    if a.answer_only:
        print(json.dumps(answer_only(a.answer_only, dtype, new_tokens)))
        return
    configs = a.configs or (["normal"] if a.quick else ["normal", "hd"])

    results = []
    for name in configs:
        r = run_config(name, dtype, repeats, new_tokens)
        if not a.no_rss:
            cmd = [sys.executable, __file__, "--answer-only", name, "--dtype", a.dtype, "--threads", str(a.threads),
                   "--new-tokens", str(new_tokens)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r.update(json.loads(done.stdout.strip().splitlines()[-1]))
        results.append(r)
        print(f"[{name}] done: {json.dumps(r)}", file=sys.stderr)

    from rich.console import Console
    from rich.table import Table

    title = f"Mini-Gemini inference, {a.dtype}, {a.threads} threads, median of {repeats} after {a.warmup} warm-up(s)"
    table = Table(title=title)
    table.add_column("stage")
    for r in results:
        table.add_column(f"{r['config']} ({r['prompt_tokens']} prompt tokens)", justify="right")
    rows = [
        ("preprocessing", lambda r: f"{r['preprocessing']:.3f} s"),
        ("LR tower (CLIP ViT-L/14-336)", lambda r: f"{r['lr_tower']:.2f} s"),
        ("HR tower (ConvNeXt-L stem + 4 stages)", lambda r: f"{r['hr_tower']:.2f} s"),
        ("mining, ours (factorised)", lambda r: f"{r['mining']:.2f} s"),
        ("mining, official formula (concat+LN+Linear)", lambda r: f"{r['mining_official']:.2f} s"),
        ("  official / ours", lambda r: f"{r['mining_official'] / r['mining']:.1f}x"),
        ("  max |ours - official| / max |official|", lambda r: f"{r['mining_rel_diff']:.1e}"),
        ("projector", lambda r: f"{r['projector']:.4f} s"),
        ("LLM prefill (last-token logits)", lambda r: f"{r['prefill']:.2f} s"),
        (f"decode ({new_tokens} tokens)", lambda r: f"{r['decode_tok_s']:.1f} tok/s"),
        (f"whole answer (processor + generate, {new_tokens} tok)", lambda r: f"{r['answer_s']:.1f} s" if "answer_s" in r else "-"),
        ("peak RSS (answer-only process)", lambda r: f"{r['peak_rss_gib']:.2f} GiB" if "peak_rss_gib" in r else "-"),
    ]
    for label, fmt in rows:
        table.add_row(label, *(fmt(r) for r in results))
    Console().print(table)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
