"""Training throughput: the tiny recipe end to end, and a real-size tower configuration with a small LLM.

    python benchmarks/training.py                 # tiny recipe + real towers (CLIP ViT-L/14-336, ConvNeXt-L @768)
    python benchmarks/training.py --skip-real     # tiny only
    python benchmarks/training.py --real-steps 3 --real-batch 2 --hd

Prints samples/s, tokens/s, how one step's time splits across towers, mining, projector, LLM forward
and backward+optimizer, and peak memory (CUDA allocator peak on GPU, process max RSS on CPU).
Weights are random: throughput does not depend on them.
"""

from __future__ import annotations

import json
import resource
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.table import Table

from minigemini.configuration import MiniGeminiConfig
from minigemini.modeling import MiniGeminiForConditionalGeneration
from minigemini.data.tiny import write_tiny_dataset
from minigemini.training import load_recipe, run_training
from minigemini.training.build import build_model_and_processor
from minigemini.training.data import build_dataset, make_collator
from minigemini.training.distributed import init_distributed
from minigemini.training.engines import TorchEngine
from minigemini.training.stages import param_groups, set_trainable

ROOT = Path(__file__).resolve().parents[1]
console = Console()
SMALL_LLM = dict(  # SmolLM2-135M geometry
    model_type="llama", vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
    num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192, tie_word_embeddings=True,
)


class PhaseTimer:
    """Wall time of each model part's forward, by hooks (synchronising CUDA at the boundaries)."""

    def __init__(self, model: MiniGeminiForConditionalGeneration):
        self.totals: dict[str, float] = defaultdict(float)
        parts = {"LR tower": model.vision_tower, "HR tower": model.aux_vision_tower, "mining": model.mining,
                 "projector": model.projector, "LLM forward": model.language_model}
        for name, module in parts.items():
            if module is not None:
                module.register_forward_pre_hook(self._start(name))
                module.register_forward_hook(self._stop(name))
        self._open: dict[str, float] = {}

    @staticmethod
    def _sync():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def _start(self, name):
        def hook(*_):
            self._sync()
            self._open[name] = time.perf_counter()
        return hook

    def _stop(self, name):
        def hook(*_):
            self._sync()
            self.totals[name] += time.perf_counter() - self._open.pop(name)
        return hook


def peak_memory() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (CUDA peak allocated)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (process max RSS)"


def timed_steps(model, batch: dict, steps: int, lr: float, precision: str) -> tuple[list[float], dict[str, float]]:
    """Run warm-up + `steps` instruct-stage optimizer steps on one batch; per-step seconds and per-phase totals."""
    from minigemini.training.recipe import TrainSpec

    info = init_distributed()
    set_trainable(model, "instruct")
    model.train()
    engine = TorchEngine(info, TrainSpec(lr=lr, precision=precision), accumulation=1)
    engine.setup(model, param_groups(model, lr, 0.0, {}), total_steps=steps + 1, warmup_steps=0)
    batch = {k: v.to(info.device) for k, v in batch.items()}
    engine.forward_backward(batch, sync=True)
    engine.optimizer_step()
    timer = PhaseTimer(model)
    times = []
    for _ in range(steps):
        PhaseTimer._sync()
        t0 = time.perf_counter()
        engine.forward_backward(batch, sync=True)
        engine.optimizer_step()
        PhaseTimer._sync()
        times.append(time.perf_counter() - t0)
    phases = {k: v / steps for k, v in timer.totals.items()}
    forward = sum(phases.values())  # the hooked parts are disjoint
    phases["backward + optimizer"] = statistics.mean(times) - forward
    return times, phases


def phase_table(title: str, phases: dict[str, float]) -> Table:
    table = Table(title=title)
    table.add_column("part")
    table.add_column("ms / step", justify="right")
    table.add_column("share", justify="right")
    total = sum(phases.values())
    for name, secs in phases.items():
        table.add_row(name, f"{secs * 1e3:.1f}", f"{100 * secs / total:.1f}%")
    return table


def bench_tiny(steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = write_tiny_dataset(Path(tmp) / "data", n=64)
        overrides = [f"data.train=[{data['align']}]", f"data.image_root={data['image_root']}", "logging.tensorboard=false"]
        table = Table(title="tiny recipes, end to end (run_training, 1 process)")
        for col in ("recipe", "steps", "steps/s", "samples/s", "tokens/s", "wall s"):
            table.add_column(col, justify="right")
        for name, stage in (("tiny-align", "align"), ("tiny-instruct", "instruct")):
            ov = overrides + ([f"data.train=[{data['instruct']}]", "model.adapter=null"] if stage == "instruct" else [])
            recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml", ov)
            t0 = time.perf_counter()
            result = run_training(recipe, Path(tmp) / name, progress=False)
            wall = time.perf_counter() - t0
            rows = [json.loads(x) for x in result.log_path.read_text().splitlines()][1:]  # drop the first (warm-up) step
            sps = statistics.median(r["samples_per_s"] for r in rows)
            tps = statistics.median(r["tokens_per_s"] for r in rows)
            table.add_row(name, str(result.steps), f"{sps / recipe.train.per_device_batch_size:.1f}", f"{sps:.1f}", f"{tps:.0f}", f"{wall:.1f}")
        console.print(table)
        recipe = load_recipe(ROOT / "recipes" / "tiny-instruct.yaml", overrides + [f"data.train=[{data['instruct']}]", "model.adapter=null"])
        model, processor = build_model_and_processor(recipe.model)
        dataset = build_dataset(recipe, processor)
        batch = make_collator(processor)([dataset[i] for i in range(recipe.train.per_device_batch_size)])
        times, phases = timed_steps(model, batch, steps, recipe.train.lr, "fp32")
        console.print(phase_table(f"tiny instruct step split (batch {len(batch['input_ids'])}, {batch['input_ids'].shape[1]} tokens)", phases))


def bench_real(steps: int, batch_size: int, hd: bool, text_tokens: int, precision: str) -> None:
    config = MiniGeminiConfig(  # default towers: CLIP ViT-L/14-336 and ConvNeXt-L (random weights)
        text_config=SMALL_LLM, aux_image_size=1536 if hd else 768, image_grid=2 if hd else 1, image_global=hd,
        image_token_id=SMALL_LLM["vocab_size"] - 1,
    )
    torch.manual_seed(0)
    model = MiniGeminiForConditionalGeneration(config)
    if torch.cuda.is_available():
        model = model.cuda()
    n_img = config.image_seq_length
    seq = n_img + text_tokens
    input_ids = torch.randint(0, SMALL_LLM["vocab_size"] - 1, (batch_size, seq))
    input_ids[:, 1 : 1 + n_img] = config.image_token_id
    labels = input_ids.clone()
    labels[:, : 1 + n_img] = -100
    s, a = config.image_size, config.aux_image_size
    batch = {
        "input_ids": input_ids, "labels": labels, "attention_mask": torch.ones_like(input_ids),
        "pixel_values": torch.randn(batch_size, config.num_views, 3, s, s),
        "pixel_values_aux": torch.randn(batch_size, 3, a, a),
    }
    params = {name: sum(p.numel() for p in getattr(model, name).parameters()) / 1e6
              for name in ("vision_tower", "aux_vision_tower", "mining", "projector", "language_model")}
    console.print(f"real-size model: {', '.join(f'{k} {v:.0f}M' for k, v in params.items())}; "
                  f"{'HD 672/1536' if hd else '336/768'}, {n_img} image tokens + {text_tokens} text tokens, batch {batch_size}, {precision}")
    times, phases = timed_steps(model, batch, steps, 2e-5, precision)
    step = statistics.mean(times)
    table = Table(title="real-size towers + small LLM, instruct stage (1 process)")
    for col in ("device", "s/step", "samples/s", "tokens/s", "peak memory"):
        table.add_column(col, justify="right")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU x{torch.get_num_threads()} threads"
    table.add_row(device, f"{step:.2f}", f"{batch_size / step:.3f}", f"{batch_size * seq / step:.0f}", peak_memory())
    console.print(table)
    console.print(phase_table("real-size step split", phases))


def main(
    tiny_steps: int = typer.Option(10, help="Timed steps for the tiny step split."),
    skip_real: bool = typer.Option(False, help="Only benchmark the tiny recipes."),
    real_steps: int = typer.Option(2, help="Timed steps for the real-size configuration (after 1 warm-up)."),
    real_batch: int = typer.Option(1, help="Per-device batch for the real-size configuration."),
    hd: bool = typer.Option(False, help="HD geometry (672 LR as 2x2 + global, 1536 HR)."),
    text_tokens: int = typer.Option(128, help="Text tokens per sample in the real-size batch."),
    precision: str = typer.Option("fp32", help="fp32 or bf16 (autocast)."),
) -> None:
    bench_tiny(tiny_steps)
    if not skip_real:
        bench_real(real_steps, real_batch, hd, text_tokens, precision)


if __name__ == "__main__":
    typer.run(main)
