"""The paper's ablations at CPU scale, on the demo's synthetic fine-detail task and seeds.

(a) LR-only vs patch info mining at three HR input sides (Table 2: more HR resolution, more gain);
(b) token extension (MGM-HD: 2x2 grid + global view, 5x the LLM visual tokens) on/off (Table 3);
(c) the trained MGM scored with the official mining formula (upsample + concatenate the four ConvNeXt stages,
    LayerNorm + Linear at every HR position, fp32) instead of ours: the accuracy must be the same.

Every model trains through the demo's code path (`run_training`, both stages). Prints a table with
mean ± std over seeds and the paper's TextVQA figures beside it, writes RUN_DIR/ablation.png and ablation.json.
Usage: python benchmarks/ablation.py [--quick] [--seeds 0,1,2] [--run-dir runs/ablation] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from rich.table import Table  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from inference import official_mining  # noqa: E402  (the official formula, written plainly)

from minigemini.data.synthetic import DatasetPaths  # noqa: E402
from minigemini.demo.evaluate import evaluate_split  # noqa: E402
from minigemini.demo.runner import (  # noqa: E402
    DemoSettings,
    Variant,
    console,
    load_trained,
    prepare_data,
    train_and_evaluate,
    variant_dir,
)

BASELINE = Variant("LR-only baseline", mining=False)
MGM = Variant("MGM (mining, HR 192)", mining=True)
HD = Variant("MGM-HD (token extension, HR 2x192)", mining=True, hd=True)


def hr_variants(full: int) -> list[Variant]:
    """Mining at half, three quarters and the full HR side of the data (each a whole number of 4 px per LR px)."""
    return [Variant(f"MGM-HR{side} (mining, HR {side})", mining=True, hr_size=side) for side in (full // 2, full * 3 // 4)]


PAPER = {  # TextVQA (%) of the paper's rows that these rows mirror (Tables 2 and 3)
    BASELINE.name: "54.1  LLaVA-1.5 baseline, LR 224 (T2)",
    "half": "58.1  + mining, HR 512 (T2)",
    "three quarters": "",
    MGM.name: "59.8  + mining, HR 768 (T2); 65.2 at LR 336 with all data (T3)",
    HD.name: "68.4  + token extension, 2880 tokens (T3)",
}


def official_formula_accuracy(s: DemoSettings, seed: int) -> float:
    """The trained MGM of `seed`, its image features recomputed by the official formula, on the same test split."""
    model, processor = load_trained(variant_dir(s, seed, MGM) / "instruct" / "final")

    def official_views(pixel_values, pixel_values_aux=None, return_attention=False):
        pv = pixel_values if pixel_values.dim() == 5 else pixel_values.unsqueeze(1)
        lr = model._run_tower(model.vision_tower, pv.flatten(0, 1))
        stages = model._run_tower(model.aux_vision_tower, pixel_values_aux)
        return official_mining(model, lr.view(*pv.shape[:2], *lr.shape[1:]).float(), [x.float() for x in stages])

    model.encode_views = official_views  # get_image_features calls self.encode_views
    data = DatasetPaths.of(s.run_dir / "data" / f"seed{seed}")
    with torch.no_grad():
        return evaluate_split(model, processor, data.test, data.image_folder).accuracy


def _fmt(values: list[float]) -> str:
    mean = statistics.mean(values) * 100
    return f"{mean:.1f} ± {statistics.stdev(values) * 100:.1f}" if len(values) > 1 else f"{mean:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one seed, tiny data, one epoch per stage (a smoke run)")
    parser.add_argument("--seeds", default=None, help="comma-separated [default: 0,1,2; --quick: 0]")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    kw = {"run_dir": args.run_dir, "workers": args.workers, "progress": False}
    if args.seeds:
        kw["seeds"] = tuple(int(x) for x in args.seeds.split(","))
    s = DemoSettings.quick(**kw) if args.quick else DemoSettings(**kw)
    s.run_dir.mkdir(parents=True, exist_ok=True)
    lower = hr_variants(s.hr_size)
    variants = (BASELINE, *lower, MGM, HD)
    vocab, chance = prepare_data(s)
    console.rule(f"ablation: {len(variants)} variants x {len(s.seeds)} seeds")
    results = train_and_evaluate(s, variants, vocab)
    accuracy = {name: [r.accuracy for r in runs] for name, runs in results.items()}
    official = [official_formula_accuracy(s, seed) for seed in s.seeds]
    paper = dict(PAPER, **{lower[0].name: PAPER["half"], lower[1].name: PAPER["three quarters"]})

    table = Table(title=f"Held-out accuracy (%), mean ± std over seeds {list(s.seeds)}; chance {chance['all'] * 100:.1f}")
    for column in ("ablation", "model", "LLM visual tokens", "accuracy", "paper (TextVQA %)"):
        table.add_column(column, no_wrap=column != "paper (TextVQA %)")
    for name in accuracy:
        part = "(b)" if name == HD.name else "(a)" if name != MGM.name else "(a)(b)"
        table.add_row(part, name, str(results[name][0].visual_tokens), _fmt(accuracy[name]), paper.get(name, ""))
    table.add_row("(c)", "MGM, official fp32 formula at test time", str(results[MGM.name][0].visual_tokens),
                  _fmt(official), f"ours: {_fmt(accuracy[MGM.name])}")
    console.print(table)

    names = [*accuracy, "MGM, official formula"]
    values = [*accuracy.values(), official]
    fig, ax = plt.subplots(figsize=(9, 4))
    means = [statistics.mean(v) * 100 for v in values]
    low = [m - min(v) * 100 for m, v in zip(means, values)]
    high = [max(v) * 100 - m for m, v in zip(means, values)]
    ax.bar(range(len(names)), means, yerr=[low, high], capsize=4, color=[f"C{i}" for i in range(len(names))])
    ax.axhline(chance["all"] * 100, color="grey", ls="--", lw=1, label="majority-class chance")
    ax.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=7)
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title(f"Ablations on the synthetic fine-detail task (mean, whiskers min..max over {len(s.seeds)} seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(s.run_dir / "ablation.png", dpi=120)
    summary = {"seeds": list(s.seeds), "accuracy": accuracy, "official_formula": official, "chance": chance,
               "visual_tokens": {k: v[0].visual_tokens for k, v in results.items()}}
    (s.run_dir / "ablation.json").write_text(json.dumps(summary, indent=1))
    console.print(f"wrote {s.run_dir / 'ablation.png'} and {s.run_dir / 'ablation.json'}")


if __name__ == "__main__":
    main()
