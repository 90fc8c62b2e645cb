"""The demo's pictures: loss curves, accuracy bars, and where mining looked inside each LR patch."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def read_losses(metrics_jsonl: Path) -> tuple[list[int], list[float]]:
    steps, losses = [], []
    for line in Path(metrics_jsonl).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if "loss" in row:
                steps.append(row["step"])
                losses.append(row["loss"])
    return steps, losses


def plot_loss_curves(curves: dict[str, Path], out: Path) -> Path:
    """curves: "stage:variant sSEED" -> metrics.jsonl. One panel per stage, log loss; one colour per variant."""
    stages = sorted({label.split(":")[0] for label in curves})
    variants = list(dict.fromkeys(label.split(":", 1)[1].rsplit(" s", 1)[0] for label in curves))
    colours = {v: f"C{i}" for i, v in enumerate(variants)}
    fig, axes = plt.subplots(1, len(stages), figsize=(5.5 * len(stages), 3.8), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        for label, path in curves.items():
            if label.split(":")[0] != stage:
                continue
            name = label.split(":", 1)[1]
            steps, losses = read_losses(path)
            ax.plot(steps, losses, color=colours[name.rsplit(" s", 1)[0]], alpha=0.7, lw=1, label=name)
        ax.set_title(f"stage {stage}")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (log scale)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_accuracy_bars(results: dict[str, list[dict[str, float]]], chance: dict[str, float], out: Path) -> Path:
    """results: variant -> one {task: accuracy} per seed (with "all"). Bars are means, whiskers min..max."""
    variants = list(results)
    tasks = list(next(iter(results.values()))[0])
    width = 0.8 / len(variants)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(tasks), 3.8))
    x = np.arange(len(tasks))
    for i, variant in enumerate(variants):
        per_seed = np.array([[r[t] * 100 for t in tasks] for r in results[variant]])
        mean = per_seed.mean(0)
        err = np.stack([mean - per_seed.min(0), per_seed.max(0) - mean])
        ax.bar(x + i * width - 0.4 + width / 2, mean, width, yerr=err, capsize=3, label=variant)
    for j, t in enumerate(tasks):
        if t in chance:
            ax.hlines(chance[t] * 100, j - 0.45, j + 0.45, colors="k", linestyles="dashed", linewidth=1)
    ax.set_xticks(x, tasks)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("held-out accuracy: mean over seeds, whiskers min..max (dashed: chance)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_mining_attention(image: np.ndarray, attention: torch.Tensor, out: Path, title: str = "") -> Path:
    """image [H, H, 3] uint8; attention [N, M*M] of one view (softmax within each LR patch's window).

    Each LR patch's window is rescaled to its own max, so the overlay shows *where inside each patch*
    the token looked, at the HR feature map's resolution.
    """
    n, mm = attention.shape
    g, m = int(round(n**0.5)), int(round(mm**0.5))
    att = attention.float().view(g, g, m, m)
    att = att / att.amax(dim=(-1, -2), keepdim=True).clamp_min(1e-12)
    heat = att.permute(0, 2, 1, 3).reshape(g * m, g * m)
    heat = F.interpolate(heat[None, None], size=image.shape[:2], mode="nearest")[0, 0].numpy()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.6))
    axes[0].imshow(image)
    axes[0].set_title("input (HR view)")
    axes[1].imshow(image)
    axes[1].imshow(heat, cmap="magma", alpha=0.6)
    step = image.shape[0] / g
    for k in range(1, g):
        axes[1].axhline(k * step - 0.5, color="white", linewidth=0.3, alpha=0.5)
        axes[1].axvline(k * step - 0.5, color="white", linewidth=0.3, alpha=0.5)
    axes[1].set_title("mining attention inside each LR patch")
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
