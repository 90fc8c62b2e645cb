"""`minigemini demo`: generate the fine-detail task, train an LR-only baseline and MGM through the real
`train` code path (both stages), evaluate on held-out images, print a table and save pictures."""

from __future__ import annotations

import json
import multiprocessing
import os
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.table import Table

from ..data.synthetic import DatasetPaths, format_report, generate_dataset, honesty_check, iter_samples
from .evaluate import EvalResult, answer_questions, evaluate_split
from .pretrained import BUDGET, LORA, QUICK_BUDGET, lr_tower_folder, pretrained_spec
from .plots import plot_accuracy_bars, plot_loss_curves, plot_mining_attention
from .text_replay import compare_text_answers, write_text_replay

console = Console(width=max(Console().width, 110))


@dataclass(frozen=True)
class Variant:
    name: str  # its first word, lower-cased, names its folder
    mining: bool
    hd: bool = False
    hr_size: int | None = None  # the model's HR input side per view; None: the data's (ablations go lower)


VARIANTS = (Variant("LR-only baseline", mining=False), Variant("MGM (mining)", mining=True))
HD_VARIANT = Variant("MGM-HD (mining + 2x2 grid)", mining=True, hd=True)


@dataclass
class DemoSettings:
    """Everything the demo does; defaults fit ~10 minutes on 2 CPU cores."""

    run_dir: Path = Path("runs/demo")
    seeds: tuple[int, ...] = (0, 1, 2)
    n_train: int = 1200
    n_test: int = 150
    lr_size: int = 48  # LR view side: 6 x 6 = 36 visual tokens of 8 px
    hr_size: int = 192  # HR view side (4x): the textures' 2-px period survives only here
    align_epochs: int = 1
    instruct_epochs: int = 6
    batch_size: int = 8
    align_lr: float = 3e-3
    instruct_lr: float = 2e-3
    adapter_lr_multiplier: float | None = None  # instruct stage on a pretrained LLM: projector + mining lr / LoRA lr
    hd: bool = False
    llm: str | None = None  # None: a tiny random LLM; "smollm2": SmolLM2-135M-Instruct (see demo/pretrained.py)
    text_replay: int = 0  # a pretrained LLM: text-only rows of its own answers in the instruct stage (text_replay.py)
    retrain: bool = False
    workers: int = 2  # trainings run side by side, each on cpu_count // workers threads
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

    @classmethod
    def for_llm(cls, llm: str | None, quick: bool = False, **kw) -> "DemoSettings":
        """The defaults for an LLM: the tiny random one's, or a pretrained one's smaller budget (demo/pretrained.py)."""
        base = {} if llm is None else dict(QUICK_BUDGET if quick else BUDGET, llm=llm)
        base.update(kw)
        return cls.quick(**base) if quick else cls(**base)


LR_TOWER = {"patch_size": 8, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2}
HR_TOWER = {"hidden_sizes": [16, 32, 48, 64], "depths": [1, 1, 1, 1], "drop_path_rate": 0.0}


def model_spec(variant: Variant, seed: int, vocabulary: list[str], lr_size: int = 48, hr_size: int = 192) -> dict:
    """The tiny MGM the demo trains: a CLIP-style ViT on the LR view (8 px patches), ConvNeXt on the HR view."""
    grid = 2 if variant.hd else 1
    hr_size = variant.hr_size or hr_size
    return {
        "tiny": {
            "seed": seed,
            "llm_init_std": 0.3,
            "llm_qk_init_std": 0.02,  # near-uniform attention at the start; at 0.3 it is near one-hot (see README)
            "mining": variant.mining,
            "hd": False,
            "image_grid": grid,
            "image_global": variant.hd,
            "aux_image_size": hr_size * grid,
            "template": "mistral_instruct",
            "tokenizer_corpus": vocabulary * 8,
            "vision_config": {"image_size": lr_size, **LR_TOWER},
            "aux_vision_config": HR_TOWER,
            "text_config": {"hidden_size": 96, "intermediate_size": 192, "num_hidden_layers": 2,
                            "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 12},
        },
        "max_length": 512,
    }


def _recipe(stage: str, variant: Variant, seed: int, data: DatasetPaths, s: DemoSettings, vocab: list[str],
            adapter: Path | None = None) -> dict:
    if s.llm is None:
        model = model_spec(variant, seed, vocab, s.lr_size, s.hr_size)
    else:
        from ..pretrained_llm import pretrained_llm_folder

        tower = lr_tower_folder(s.run_dir, seed, s.lr_size, LR_TOWER)
        model = pretrained_spec(pretrained_llm_folder(s.llm), tower, variant.mining, 2 if variant.hd else 1,
                                variant.hr_size or s.hr_size, HR_TOWER)
    if adapter is not None:
        model["adapter"] = str(adapter)
    pretrained = s.llm is not None and stage == "instruct"
    train = [str(data.align if stage == "align" else data.instruct)]
    if pretrained and s.text_replay:
        train.append(str(replay_path(s)))
    return {
        "name": f"demo-{stage}",
        "stage": stage,
        "model": model,
        "data": {"train": train, "image_root": str(data.image_folder), "group_by_modality_length": False},
        "train": {"lr": s.align_lr if stage == "align" else s.instruct_lr,
                  "epochs": s.align_epochs if stage == "align" else s.instruct_epochs,
                  "per_device_batch_size": s.batch_size, "precision": "fp32", "gradient_checkpointing": False,
                  "seed": seed, "save_steps": 0, "warmup_ratio": 0.03,
                  "lr_multipliers": dict.fromkeys(("projector", "mining"), s.adapter_lr_multiplier or 1.0) if pretrained else {}},
        "lora": LORA if pretrained else {},
        "logging": {"tensorboard": False},
    }


def replay_path(s: DemoSettings) -> Path:
    return s.run_dir / "data" / "text_replay.json"


def variant_dir(s: DemoSettings, seed: int, variant: Variant) -> Path:
    return s.run_dir / f"seed{seed}" / variant.name.split(" ")[0].lower()


def _train_variant(variant: Variant, seed: int, data: DatasetPaths, s: DemoSettings,
                   vocab: list[str]) -> tuple[Path, bool]:
    """Both stages through `run_training`: (the instruct run's final folder, whether it was reused from the cache)."""
    from ..training import run_training

    root = variant_dir(s, seed, variant)
    final = root / "instruct" / "final"
    if (final / "config.json").exists() and not s.retrain:
        return final, True
    if root.exists():
        shutil.rmtree(root)
    align = run_training(_recipe("align", variant, seed, data, s, vocab), root / "align", progress=False)
    run_training(_recipe("instruct", variant, seed, data, s, vocab, adapter=align.adapter_path), root / "instruct",
                 progress=False)
    return final, False


@contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2: prints, warnings, library bars and log
    lines) to `log` within the block, so that workers keep the parent's terminal clean."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "w") as sink:
        os.dup2(sink.fileno(), 1), os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


def _job(variant: Variant, seed: int, s: DemoSettings, vocab: list[str], threads: int) -> tuple[EvalResult, bool, float]:
    """Worker process: train (or reuse) one variant for one seed and score it on that seed's test split.
    What training prints goes to RUN_DIR/seedN/<variant>.log."""
    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()
    data = DatasetPaths.of(s.run_dir / "data" / f"seed{seed}")
    with _output_to(variant_dir(s, seed, variant).with_suffix(".log")):
        final, cached = _train_variant(variant, seed, data, s, vocab)
        model, processor = load_trained(final)
        res = evaluate_split(model, processor, data.test, data.image_folder, batch_size=32)
    (final.parent.parent / "predictions.json").write_text(json.dumps(res.predictions, indent=1))
    res.per_task["all"] = res.accuracy
    return res, cached, time.perf_counter() - start


def _steps_done(root: Path) -> int:
    """Optimizer steps logged so far by both stages of a running training (their metrics.jsonl files)."""
    done = 0
    for stage in ("align", "instruct"):
        log = root / stage / "metrics.jsonl"
        if log.exists():
            done += sum(1 for line in log.read_text().splitlines() if '"loss"' in line)
    return done


def train_and_evaluate(s: DemoSettings, variants: tuple[Variant, ...], vocab: dict[int, list[str]]) -> dict[str, list[EvalResult]]:
    """Every (variant, seed) in `s.workers` processes side by side, with one progress bar per training."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    threads = max(1, (os.cpu_count() or 1) // s.workers)
    per_epoch = -(-s.n_train // s.batch_size)
    total = per_epoch * (s.align_epochs + s.instruct_epochs)
    jobs = sorted(((v, seed) for seed in s.seeds for v in variants), key=lambda j: not j[0].mining)  # longest first
    out: dict[tuple[str, int], EvalResult] = {}
    context = multiprocessing.get_context("spawn")  # no forked OpenMP pools
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with ProcessPoolExecutor(s.workers, mp_context=context) as pool, Progress(  # bars on a terminal; lines in any log
        *columns, console=console, disable=not (s.progress and console.is_terminal)
    ) as bars:
        futures = {pool.submit(_job, v, seed, s, vocab[seed], threads): (v, seed) for v, seed in jobs}
        ids = {key: bars.add_task(f"{key[0].name} (seed {key[1]})", total=total) for key in futures.values()}
        pending = set(futures)
        announced: set[tuple[Variant, int, str]] = set()
        submitted = time.time()

        def announce(variant: Variant, seed: int) -> None:
            """One line per stage that this run trained (plain logs get progress too)."""
            for stage in ("align", "instruct"):
                final = variant_dir(s, seed, variant) / stage / "final" / "config.json"
                if (variant, seed, stage) not in announced and final.exists() and final.stat().st_mtime >= submitted:
                    announced.add((variant, seed, stage))
                    bars.console.print(f"  {variant.name} (seed {seed}): {stage} stage trained, "
                                       f"{_stage_summary(final.parent.parent / 'metrics.jsonl')}")

        while pending:
            done, pending = wait(pending, timeout=1.0)
            for future in done:
                variant, seed = futures[future]
                res, cached, seconds = future.result()
                announce(variant, seed)
                out[variant.name, seed] = res
                bars.update(ids[variant, seed], completed=total)
                how = "cached" if cached else f"trained in {seconds:.0f} s"
                bars.console.print(f"  {variant.name} (seed {seed}): {how}; held-out accuracy "
                                   f"{res.accuracy * 100:.1f}% ({res.n} questions)")
            for variant, seed in (futures[f] for f in pending):
                bars.update(ids[variant, seed], completed=min(_steps_done(variant_dir(s, seed, variant)), total))
                announce(variant, seed)
    return {v.name: [out[v.name, seed] for seed in s.seeds] for v in variants}


def _stage_summary(metrics: Path) -> str:
    """'N steps, loss A -> B' from a finished stage's metrics.jsonl (first and last logged loss)."""
    losses = [json.loads(line)["loss"] for line in metrics.read_text().splitlines() if '"loss"' in line]
    return f"{len(losses)} steps, loss {losses[0]:.2f} -> {losses[-1]:.2f}" if losses else "no steps logged"


def load_trained(final: Path):
    from ..modeling import MiniGeminiForConditionalGeneration
    from ..processing import MiniGeminiProcessor
    from ..quiet import quiet_transformers

    with quiet_transformers():  # its 'Loading weights' bar concerns the demo, not the user
        return MiniGeminiForConditionalGeneration.from_pretrained(final).eval(), MiniGeminiProcessor.from_pretrained(final)


def _chance(meta: dict) -> dict[str, float]:
    per = {t: max(c.values()) / sum(c.values()) for t, c in meta["class_balance"]["test"].items()}
    total = sum(sum(c.values()) for c in meta["class_balance"]["test"].values())
    per["all"] = sum(max(c.values()) for c in meta["class_balance"]["test"].values()) / total
    return per


def results_table(results: dict[str, list[EvalResult]], chance: dict[str, float], seeds: tuple[int, ...]) -> Table:
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


_NOT_CACHED = ("run_dir", "seeds", "hd", "retrain", "workers", "fresh_questions", "honesty_samples", "progress")
"""Settings that do not change the data or the trained models."""


def _check_cache(s: DemoSettings) -> None:
    """Retrain (s.retrain = True) when the cached run was made with settings that shape data or models."""
    record = s.run_dir / "settings.json"
    wanted = {k: v for k, v in asdict(s).items() if k not in _NOT_CACHED}
    if record.exists() and not s.retrain:
        cached = json.loads(record.read_text())
        changed = sorted(k for k in wanted if cached.get(k) != wanted[k])
        if changed:
            console.print(f"[yellow]{record} differs in {', '.join(changed)}: regenerating data and retraining.[/]")
            s.retrain = True
    elif not record.exists() and any(s.run_dir.glob("seed*")):
        console.print(f"[yellow]{s.run_dir} has models but no settings.json: regenerating data and retraining.[/]")
        s.retrain = True
    record.write_text(json.dumps(wanted, indent=1))


def prepare_data(s: DemoSettings) -> tuple[dict[int, list[str]], dict[str, float]]:
    """Each seed's dataset under RUN_DIR/data (generated unless there and not retraining): (answer vocabulary
    per seed, majority-class chance per task of the last seed's test split)."""
    vocab: dict[int, list[str]] = {}
    chance: dict[str, float] = {}
    for seed in s.seeds:
        data = DatasetPaths.of(s.run_dir / "data" / f"seed{seed}")
        if not data.meta.exists() or s.retrain:
            console.print(f"seed {seed}: generating {s.n_train} train + {s.n_test} test images -> {data.root}")
            generate_dataset(data.root, seed=seed, n_train=s.n_train, n_test=s.n_test, hr_size=s.hr_size,
                             lr_size=s.lr_size)
        meta = json.loads(data.meta.read_text())
        vocab[seed] = meta["answer_vocabulary"]
        chance = _chance(meta)
    return vocab, chance


def run_demo(s: DemoSettings) -> dict:
    """Run every step; returns the summary that is also written to RUN_DIR/results.json."""
    started = time.perf_counter()
    s.run_dir.mkdir(parents=True, exist_ok=True)
    variants = VARIANTS + ((HD_VARIANT,) if s.hd else ())
    curves: dict[str, Path] = {}
    _check_cache(s)
    vocab, chance = prepare_data(s)
    if s.llm is not None:  # convert the LLM once and write each seed's LR tower before the workers start
        from ..pretrained_llm import cache_root, pretrained_llm_folder

        console.print(f"pretrained LLM {s.llm}: {pretrained_llm_folder(s.llm)}")
        for seed in s.seeds:
            lr_tower_folder(s.run_dir, seed, s.lr_size, LR_TOWER)
        if s.text_replay:
            with console.status(f"text replay: the untuned LLM answers {s.text_replay} text questions (cached)"):
                write_text_replay(pretrained_llm_folder(s.llm), replay_path(s), s.text_replay, cache_root())
            console.print(f"text replay: {s.text_replay} text-only rows of the LLM's own answers -> {replay_path(s)}")
    console.rule("honesty check: one simple classifier on each view of fresh images")
    honesty = honesty_check(list(iter_samples(30_000 + s.seeds[0], "test", s.honesty_samples, hr_size=s.hr_size,
                                              lr_size=s.lr_size)), lr_size=s.lr_size)
    console.print(format_report(honesty))
    console.rule(f"training {len(variants)} variants x {len(s.seeds)} seeds, {s.workers} at a time")
    results = train_and_evaluate(s, variants, vocab)
    for variant in variants:
        for seed in s.seeds:
            for stage in ("align", "instruct"):
                curves[f"{stage}:{variant.name} s{seed}"] = variant_dir(s, seed, variant) / stage / "metrics.jsonl"

    console.rule("results")
    console.print(results_table(results, chance, s.seeds))
    figures = {
        "loss_curves": plot_loss_curves(curves, s.run_dir / "loss_curves.png"),
        "accuracy": plot_accuracy_bars({k: [r.per_task for r in v] for k, v in results.items()}, chance,
                                       s.run_dir / "accuracy.png"),
    }
    mgm_final = s.run_dir / f"seed{s.seeds[0]}" / "mgm" / "instruct" / "final"
    model, processor = load_trained(mgm_final)
    figures["mining_attention"] = _attention_figure(model, processor, s)
    fresh = _fresh_questions(model, processor, s)
    text = _text_answers(model, processor, s) if s.llm is not None else None
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
        "text_answers": text,
        "wall_seconds": elapsed,
    }
    (s.run_dir / "results.json").write_text(json.dumps(summary, indent=1, default=str))
    console.print(f"MGM - LR-only baseline: [bold]{gap:+.1f}[/] accuracy points at the same number of visual tokens.")
    for name, path in figures.items():
        console.print(f"  {name}: {path}")
    console.print(f"  results: {s.run_dir / 'results.json'}   (total {elapsed / 60:.1f} min)")
    console.rule("keep using the trained MGM (a from_pretrained folder)")
    for command in _use_commands(mgm_final, fresh, text_question=s.llm is not None):
        console.print(command, markup=False, soft_wrap=True)
    return summary


TEXT_QUESTION = "What is the capital of France?"


def _use_commands(folder: Path, fresh: list[dict], text_question: bool = False) -> list[str]:
    """Shell commands that chat with / serve the demo's MGM folder (a pretrained LLM: also without an image)."""
    ask = f" --image {shlex.quote(fresh[0]['image'])} --prompt {shlex.quote(fresh[0]['question'])}" if fresh else ""
    model = shlex.quote(str(folder))
    text = [f"minigemini chat --model {model} --prompt {shlex.quote(TEXT_QUESTION)} --temperature 0"] if text_question else []
    return [f"minigemini chat --model {model}{ask} --temperature 0", *text, f"minigemini serve --model {model}"]


def _attention_figure(model, processor, s: DemoSettings) -> Path:
    """Mining attention over a fresh test-like image with a framed texture patch."""
    sample = next(iter(iter_samples(10_000 + s.seeds[0], "test", 1, tasks=("texture",), hr_size=s.hr_size,
                                    lr_size=s.lr_size)))
    inputs = processor(text="<image>", images=[Image.fromarray(sample.image)])
    attention = model.mining_attention(inputs["pixel_values"], inputs["pixel_values_aux"])[0, 0]
    return plot_mining_attention(sample.image, attention, s.run_dir / "mining_attention.png",
                                 title=f"{sample.question}  (answer: {sample.answer})")


def _fresh_questions(model, processor, s: DemoSettings) -> list[dict]:
    """Answer questions about newly generated images (never seen in training or test)."""
    folder = s.run_dir / "fresh"
    folder.mkdir(exist_ok=True)
    samples = list(iter_samples(20_000 + s.seeds[0], "test", s.fresh_questions, hr_size=s.hr_size, lr_size=s.lr_size))
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


def _text_answers(model, processor, s: DemoSettings) -> dict:
    """Held-out text questions: the trained MGM's answers beside the untuned LLM's."""
    from ..pretrained_llm import cache_root, pretrained_llm_folder

    report = compare_text_answers(model, processor, pretrained_llm_folder(s.llm), cache_root())
    console.rule("MGM answers text questions it never trained on (beside the untuned LLM)")
    for row in report["rows"]:
        console.print(f"Q: {row['question']}\n  MGM: {row['answer']}\n  untuned {s.llm}: {row['base']}", markup=False)
    console.print(f"mean answer length {report['mean_words']:.1f} words (untuned: {report['base_mean_words']:.1f}); "
                  f"{report['same_start']}/{len(report['rows'])} start with the untuned model's first 8 words")
    return report
