"""Load time, import separated from loading, for an official-layout MGM folder and for our own format.

The default size has real-size towers (CLIP ViT-L/14-336 and ConvNeXt-L, random weights) and a small Llama;
`--quick` uses the tiny test towers. Both folders are written once to a temp folder; every timing runs in a
fresh process (so nothing is cached in memory between them) and the best of `--repeats` is printed.

    python benchmarks/loading.py            # real-size towers
    python benchmarks/loading.py --quick    # seconds
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "official"))
from official_fixtures import official_name  # noqa: E402  (the official key names, shared with the tests)

from minigemini import MiniGeminiConfig, MiniGeminiForConditionalGeneration, MiniGeminiProcessor  # noqa: E402
from minigemini.quiet import quiet_transformers  # noqa: E402
from minigemini.tiny import build_tiny_tokenizer, tiny_config  # noqa: E402

TIMED = """
import sys, time, json
t0 = time.perf_counter()
from minigemini import MiniGeminiForConditionalGeneration, MiniGeminiProcessor
import minigemini.modeling, minigemini.processing
t1 = time.perf_counter()
MiniGeminiForConditionalGeneration.from_pretrained(sys.argv[1])
t2 = time.perf_counter()
MiniGeminiProcessor.from_pretrained(sys.argv[1])
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "model": t2 - t1, "processor": t3 - t2}))
"""


def build(quick: bool) -> tuple[MiniGeminiForConditionalGeneration, MiniGeminiProcessor]:
    tokenizer = build_tiny_tokenizer()
    image_token_id = len(tokenizer)
    if quick:
        config = tiny_config(len(tokenizer), image_token_id=image_token_id)
    else:
        text = dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=576, intermediate_size=1536,
                    num_hidden_layers=4, num_attention_heads=9, num_key_value_heads=3, head_dim=64)
        config = MiniGeminiConfig(text_config=text, image_token_id=image_token_id, template="vicuna_v1",
                                  tokenizer_model_max_length=2048)
    model = MiniGeminiForConditionalGeneration(config).eval()
    return model, MiniGeminiProcessor.from_config(tokenizer, config)


def write_official(model, processor, folder: Path) -> None:
    """bf16 shards with an index and a config.json carrying the official mm_* fields."""
    folder.mkdir(parents=True)
    state = {official_name(k): v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()
             if not k.endswith("embed_scale")}
    names, shards, weight_map = sorted(state), 3, {}
    for i in range(shards):
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: state[k] for k in names[i::shards]}, folder / fname, metadata={"format": "pt"})
        weight_map.update({k: fname for k in names[i::shards]})
    cfg = model.config
    raw = cfg.text_config.to_dict()
    raw.update(
        architectures=["MGMLlamaForCausalLM"], model_type="mgm", torch_dtype="bfloat16",
        mm_vision_tower="model_zoo/OpenAI/clip-vit-large-patch14-336",
        mm_vision_tower_aux="model_zoo/OpenAI/openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup",
        mm_hidden_size=cfg.vision_config.hidden_size, mm_hidden_size_aux=sum(cfg.aux_vision_config.hidden_sizes),
        mm_projector_type="mlp2x_gelu", mm_vision_select_layer=-2, mm_vision_select_feature="patch",
        image_size_aux=cfg.aux_image_size, image_grid=cfg.image_grid, image_global=cfg.image_global,
        image_aspect_ratio="pad", tokenizer_model_max_length=cfg.tokenizer_model_max_length, use_mm_proj=True,
    )
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps(raw))
    processor.tokenizer.save_pretrained(folder)


def time_load(folder: Path, repeats: int) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", TIMED, str(folder)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {key: min(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny towers instead of CLIP-L + ConvNeXt-L")
    parser.add_argument("--repeats", type=int, default=2, help="fresh-process runs per folder; the best is shown")
    args = parser.parse_args()
    torch.manual_seed(0)
    model, processor = build(args.quick)
    params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as tmp:
        official, ours = Path(tmp) / "official", Path(tmp) / "ours"
        with quiet_transformers():
            write_official(model, processor, official)
            model.save_pretrained(ours)
            processor.save_pretrained(ours)
        del model
        print(f"{params / 1e6:.1f}M parameters ({'tiny towers' if args.quick else 'CLIP-L/336 + ConvNeXt-L + small Llama'}); "
              f"best of {args.repeats} fresh processes, seconds")
        print(f"{'folder':<34}{'import':>8}{'model':>8}{'processor':>11}")
        for name, folder in (("official layout (bf16 shards)", official), ("ours (save_pretrained, fp32)", ours)):
            t = time_load(folder, args.repeats)
            print(f"{name:<34}{t['import']:>8.2f}{t['model']:>8.2f}{t['processor']:>11.2f}")


if __name__ == "__main__":
    main()
