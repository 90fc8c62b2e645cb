"""`minigemini demo`: generate the fine-detail task, train an LR-only baseline and MGM through the real
`train` code path (both stages), evaluate on held-out images, print a table and save pictures."""

from __future__ import annotations

import json
import shutil
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.table import Table

from ..data.synthetic import DatasetPaths, format_report, generate_dataset, honesty_check, iter_samples
from .evaluate import EvalResult, answer_questions, evaluate_split
from .plots import plot_accuracy_bars, plot_loss_curves, plot_mining_attention

console = Console(width=max(Console().width, 110))


@dataclass(frozen=True)
class Variant:
    name: str
    mining: bool
    hd: bool = False


VARIANTS = (Variant("LR-only baseline", mining=False), Variant("MGM (mining)", mining=True))
HD_VARIANT = Variant("MGM-HD (mining + 2x2 grid)", mining=True, hd=True)


@dataclass
class DemoSettings:
    """Everything the demo does; defaults fit ~10 minutes on 2 CPU cores."""

    run_dir: Path = Path("runs/demo")
    seeds: tuple[int, ...] = (0, 1, 2)
    n_train: int = 600
    n_test: int = 150
    align_epochs: int = 1
    instruct_epochs: int = 3
    batch_size: int = 16
    align_lr: float = 3e-3
    instruct_lr: float = 2e-3
    hd: bool = False
    retrain: bool = False
    fresh_questions: int = 4
    honesty_samples: int = 360
    progress: bool = True

    @classmethod
    def quick(cls, **kw) -> "DemoSettings":
        """A smoke run for CI: one seed, a small dataset, short training."""
        base = dict(seeds=(0,), n_train=48, n_test=12, align_epochs=1, instruct_epochs=1, fresh_questions=2,
                    honesty_samples=60, batch_size=8)
        base.update(kw)
        return cls(**base)


def model_spec(variant: Variant, seed: int, vocabulary: list[str]) -> dict:
    """The tiny MGM the demo trains: CLIP-style ViT at 64 px (8 px patches, 64 tokens), ConvNeXt at 256 px."""
    grid = 2 if variant.hd else 1
    return {
        "tiny": {
            "seed": seed,
            "llm_init_std": 0.3,
            "mining": variant.mining,
            "hd": False,
            "image_grid": grid,
            "image_global": variant.hd,
            "aux_image_size": 256 * grid,
            "template": "mistral_instruct",
            "tokenizer_corpus": vocabulary * 8,
            "vision_config": {"image_size": 64, "patch_size": 8, "hidden_size": 64, "intermediate_size": 128,
                              "num_hidden_layers": 2, "num_attention_heads": 2},
            "aux_vision_config": {"hidden_sizes": [16, 32, 48, 64], "depths": [1, 1, 1, 1], "drop_path_rate": 0.0},
            "text_config": {"hidden_size": 96, "intermediate_size": 192, "num_hidden_layers": 2,
                            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 24},
        },
        "max_length": 512,
    }


def _recipe(stage: str, variant: Variant, seed: int, data: DatasetPaths, s: DemoSettings, vocab: list[str],
            adapter: Path | None = None) -> dict:
    model = model_spec(variant, seed, vocab)
    if adapter is not None:
        model["adapter"] = str(adapter)
    return {
        "name": f"demo-{stage}",
        "stage": stage,
        "model": model,
        "data": {"train": [str(data.align if stage == "align" else data.instruct)], "image_root": str(data.image_folder),
                 "group_by_modality_length": False},
        "train": {"lr": s.align_lr if stage == "align" else s.instruct_lr,
                  "epochs": s.align_epochs if stage == "align" else s.instruct_epochs,
                  "per_device_batch_size": s.batch_size, "precision": "fp32", "gradient_checkpointing": False,
                  "seed": seed, "save_steps": 0, "warmup_ratio": 0.03},
        "logging": {"tensorboard": False},
    }


def _train_variant(variant: Variant, seed: int, data: DatasetPaths, s: DemoSettings, vocab: list[str]) -> Path:
    """Both stages through `run_training`; returns the instruct run's final folder (cached unless retrain)."""
    from ..training import run_training

    root = s.run_dir / f"seed{seed}" / variant.name.split(" ")[0].lower()
    final = root / "instruct" / "final"
    if (final / "config.json").exists() and not s.retrain:
        console.print(f"  [dim]cached[/] {variant.name} (seed {seed}): {final}")
        return final
    if root.exists():
        shutil.rmtree(root)
    console.print(f"  training {variant.name} (seed {seed}) ...")
    align = run_training(_recipe("align", variant, seed, data, s, vocab), root / "align", progress=s.progress)
    run_training(_recipe("instruct", variant, seed, data, s, vocab, adapter=align.adapter_path), root / "instruct",
                 progress=s.progress)
    return final


def _load(final: Path):
    from ..modeling import MiniGeminiForConditionalGeneration
    from ..processing import MiniGeminiProcessor

    return MiniGeminiForConditionalGeneration.from_pretrained(final).eval(), MiniGeminiProcessor.from_pretrained(final)


def _chance(meta: dict) -> dict[str, float]:
    per = {t: max(c.values()) / sum(c.values()) for t, c in meta["class_balance"]["test"].items()}
    total = sum(sum(c.values()) for c in meta["class_balance"]["test"].values())
    per["all"] = sum(max(c.values()) for c in meta["class_balance"]["test"].values()) / total
    return per


def _table(results: dict[str, list[EvalResult]], chance: dict[str, float], seeds: tuple[int, ...]) -> Table:
    tasks = [t for t in results[next(iter(results))][0].per_task if t != "all"]
    table = Table(title=f"Held-out accuracy (%), mean ± std over seeds {list(seeds)}; last row: majority-class chance")
    for name in ("model", "visual tokens", "all", *tasks, "s/image"):
        table.add_column(name, justify="left" if name == "model" else "right", no_wrap=True)

    def fmt(values: list[float]) -> str:
        mean = statistics.mean(values) * 100
        return f"{mean:.1f} ± {statistics.stdev(values) * 100:.1f}" if len(values) > 1 else f"{mean:.1f}"

    for name, runs in results.items():
        table.add_row(name, str(runs[0].visual_tokens), fmt([r.accuracy for r in runs]),
                      *[fmt([r.per_task[t] for r in runs]) for t in tasks],
                      f"{statistics.mean(r.seconds_per_image for r in runs):.3f}")
    table.add_row("chance", "", f"{chance['all'] * 100:.1f}", *[f"{chance.get(t, 0) * 100:.1f}" for t in tasks], "")
    return table


def run_demo(s: DemoSettings) -> dict:
    """Run every step; returns the summary that is also written to RUN_DIR/results.json."""
    started = time.perf_counter()
    s.run_dir.mkdir(parents=True, exist_ok=True)
    variants = VARIANTS + ((HD_VARIANT,) if s.hd else ())
    results: dict[str, list[EvalResult]] = {v.name: [] for v in variants}
    curves: dict[str, Path] = {}
    chance: dict[str, float] = {}
    honesty = None
    for seed in s.seeds:
        console.rule(f"seed {seed}")
        data = DatasetPaths.of(s.run_dir / "data" / f"seed{seed}")
        if not data.meta.exists() or s.retrain:
            console.print(f"  generating {s.n_train} train + {s.n_test} test images -> {data.root}")
            generate_dataset(data.root, seed=seed, n_train=s.n_train, n_test=s.n_test)
        meta = json.loads(data.meta.read_text())
        vocab = meta["answer_vocabulary"]
        chance = _chance(meta)
        if honesty is None:
            honesty = honesty_check(list(iter_samples(30_000 + seed, "test", s.honesty_samples)))
            console.print(format_report(honesty))
        for variant in variants:
            final = _train_variant(variant, seed, data, s, vocab)
            for stage in ("align", "instruct"):
                curves[f"{stage}:{variant.name} s{seed}"] = final.parent.parent / stage / "metrics.jsonl"
            model, processor = _load(final)
            res = evaluate_split(model, processor, data.test, data.image_folder, batch_size=32, progress=s.progress)
            (final.parent.parent / "predictions.json").write_text(json.dumps(res.predictions, indent=1))
            console.print(f"  {variant.name}: accuracy {res.accuracy * 100:.1f}% ({res.n} questions)")
            res.per_task["all"] = res.accuracy
            results[variant.name].append(res)

    console.rule("results")
    console.print(_table(results, chance, s.seeds))
    figures = {
        "loss_curves": plot_loss_curves(curves, s.run_dir / "loss_curves.png"),
        "accuracy": plot_accuracy_bars({k: [r.per_task for r in v] for k, v in results.items()}, chance,
                                       s.run_dir / "accuracy.png"),
    }
    mgm_final = s.run_dir / f"seed{s.seeds[0]}" / "mgm" / "instruct" / "final"
    model, processor = _load(mgm_final)
    figures["mining_attention"] = _attention_figure(model, processor, s)
    fresh = _fresh_questions(model, processor, s)
    elapsed = time.perf_counter() - started
    mean = {k: statistics.mean(r.accuracy for r in v) for k, v in results.items()}
    gap = (mean["MGM (mining)"] - mean["LR-only baseline"]) * 100
    summary = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(s).items()},
        "accuracy": {k: [r.accuracy for r in v] for k, v in results.items()},
        "per_task": {k: [r.per_task for r in v] for k, v in results.items()},
        "visual_tokens": {k: v[0].visual_tokens for k, v in results.items()},
        "seconds_per_image": {k: statistics.mean(r.seconds_per_image for r in v) for k, v in results.items()},
        "chance": chance,
        "honesty": honesty,
        "mgm_minus_baseline_points": gap,
        "figures": {k: str(v) for k, v in figures.items()},
        "fresh_answers": fresh,
        "wall_seconds": elapsed,
    }
    (s.run_dir / "results.json").write_text(json.dumps(summary, indent=1, default=str))
    console.print(f"MGM - LR-only baseline: [bold]{gap:+.1f}[/] accuracy points at the same number of visual tokens.")
    for name, path in figures.items():
        console.print(f"  {name}: {path}")
    console.print(f"  results: {s.run_dir / 'results.json'}   (total {elapsed / 60:.1f} min)")
    return summary


def _attention_figure(model, processor, s: DemoSettings) -> Path:
    """Mining attention over a fresh test-like image with a framed texture patch."""
    sample = next(iter(iter_samples(10_000 + s.seeds[0], "test", 1, tasks=("texture",))))
    inputs = processor(text="<image>", images=[Image.fromarray(sample.image)])
    attention = model.mining_attention(inputs["pixel_values"], inputs["pixel_values_aux"])[0, 0]
    return plot_mining_attention(sample.image, attention, s.run_dir / "mining_attention.png",
                                 title=f"{sample.question}  (answer: {sample.answer})")


def _fresh_questions(model, processor, s: DemoSettings) -> list[dict]:
    """Answer questions about newly generated images (never seen in training or test)."""
    folder = s.run_dir / "fresh"
    folder.mkdir(exist_ok=True)
    samples = list(iter_samples(20_000 + s.seeds[0], "test", s.fresh_questions))
    items, rows = [], []
    for i, sample in enumerate(samples):
        path = folder / f"fresh_{i}.png"
        Image.fromarray(sample.image).save(path)
        items.append((str(path), sample.question))
    for (path, question), sample, answer in zip(items, samples, answer_questions(model, processor, items)):
        rows.append({"image": path, "question": question, "answer": answer, "expected": sample.answer})
    console.rule("MGM answers about fresh images")
    for row in rows:
        mark = "[green]✓[/]" if row["answer"].strip().lower() == row["expected"].lower() else "[red]✗[/]"
        console.print(f"{row['image']}\n  Q: {row['question']}\n  A: {row['answer']}  {mark} (expected: {row['expected']})")
    return rows
