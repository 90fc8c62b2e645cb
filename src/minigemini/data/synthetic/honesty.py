"""Honesty check: the same simple classifier, fed the processor's LR view vs its HR view.

A bag-of-visual-words pipeline, identical code for both views, in the view's own pixel units:
every 2x2 window gets a gradient code (|dx|, |dy|, |dxy| above a threshold: 8 codes); every 4x4 block
(the HR tower's stem stride) gets the histogram of its 16 window codes; the codebook is the most frequent block histograms of the
fit set; an image is described by its word frequencies over the whole image and each quadrant plus
per-quadrant mean colour. Classifier: linear discriminant analysis with a shrunk covariance (closed
form; unlike softmax regression it separates the ordered counts sharply), fitted on one set and
scored on another.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .dataset import DatasetPaths, load_split
from .render import model_views
from .tasks import Sample

Labeled = tuple[np.ndarray, str, str]  # (image [H, H, 3] uint8, task, answer)

EDGE_THRESHOLD = 0.25
"""|difference| in CLIP-normalised units (~17/255) that counts as an edge."""
SHRINKAGE = 0.01
"""LDA covariance shrinkage towards a scaled identity."""
BLOCK = 4
N_WORDS = 16


def block_keys(x: torch.Tensor) -> torch.Tensor:
    """[N, 3, S, S] normalised images -> [N, S/4, S/4] int64: per 4x4 block, its histogram of window codes as one key.

    key = sum over the block's 16 windows of 17**code, i.e. the histogram's digits in base 17.
    """
    g = F.pad(x.mean(1, keepdim=True), (0, 1, 0, 1), mode="replicate")[:, 0]
    a, b, c, d = g[:, :-1, :-1], g[:, :-1, 1:], g[:, 1:, :-1], g[:, 1:, 1:]
    code = sum((v.abs() > EDGE_THRESHOLD).long() << i for i, v in enumerate((b - a, c - a, d - b - c + a)))
    n, s = code.shape[0], code.shape[1] // BLOCK
    powers = (17 ** torch.arange(8))[code[:, : s * BLOCK, : s * BLOCK]]
    return powers.reshape(n, s, BLOCK, s, BLOCK).sum((2, 4))


def _histograms(keys: torch.Tensor) -> torch.Tensor:
    """[...] keys -> [..., 8] float histograms."""
    return torch.stack([keys // 17**k % 17 for k in range(8)], -1).float()


def _codebook(keys: torch.Tensor) -> torch.Tensor:
    """[N, s, s] block keys -> [K, 8]: histograms of the K most frequent keys (ties: smallest key first)."""
    uniq, counts = torch.unique(keys, return_counts=True)  # sorted by key
    return _histograms(uniq[torch.argsort(-counts, stable=True)[:N_WORDS]])


def _bag_of_words(keys: torch.Tensor, colour: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """[N, s, s] keys, [N, 3, 2, 2] colour -> [N, K * 5 + 12]: word frequencies (image, quadrants), colour."""
    n, s = keys.shape[:2]
    words = torch.cdist(_histograms(keys.reshape(n, -1)), codebook[None].expand(n, -1, -1)).argmin(-1)
    onehot = F.one_hot(words, len(codebook)).float().reshape(n, s, s, -1).permute(0, 3, 1, 2)
    freq = torch.cat([F.adaptive_avg_pool2d(onehot, 1).flatten(1), F.adaptive_avg_pool2d(onehot, 2).flatten(1)], 1)
    return torch.cat([freq, colour.flatten(1)], 1)


def _views(items: Sequence[Labeled], lr_size: int, chunk: int = 64) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"lr"|"hr": (block keys [N, s, s], quadrant mean colour [N, 3, 2, 2])}."""
    out: dict[str, tuple[list, list]] = {"lr": ([], []), "hr": ([], [])}
    for i in range(0, len(items), chunk):
        hr, lr = model_views(np.stack([it[0] for it in items[i : i + chunk]]), lr_size)
        for name, x in (("lr", lr), ("hr", hr)):
            out[name][0].append(block_keys(x))
            out[name][1].append(F.adaptive_avg_pool2d(x, 2))
    return {name: (torch.cat(k), torch.cat(c)) for name, (k, c) in out.items()}


def _fit_score(x_fit: torch.Tensor, y_fit: torch.Tensor, x_eval: torch.Tensor, y_eval: torch.Tensor, n_classes: int) -> float:
    """Eval accuracy of linear discriminant analysis (standardised inputs, shrunk shared covariance) fitted on fit."""
    mu, sd = x_fit.mean(0), x_fit.std(0).clamp_min(1e-6)
    x_fit, x_eval = ((x_fit - mu) / sd).double(), ((x_eval - mu) / sd).double()
    means = torch.stack([x_fit[y_fit == c].mean(0) if (y_fit == c).any() else x_fit.mean(0) for c in range(n_classes)])
    resid = x_fit - means[y_fit]
    cov = resid.T @ resid / len(x_fit)
    cov = (1 - SHRINKAGE) * cov + SHRINKAGE * cov.trace() / len(cov) * torch.eye(len(cov), dtype=cov.dtype)
    proj = torch.linalg.solve(cov, means.T)  # [F, C]
    scores = x_eval @ proj - 0.5 * (means * proj.T).sum(1)
    return (scores.argmax(1) == y_eval).double().mean().item()


def _split(source: str | Path | Sequence[Sample], lr_size: int) -> tuple[list[Labeled], list[Labeled], int]:
    """(fit, eval, lr_size): instruct.json vs test.json of a dataset folder; halves of each task's samples otherwise."""
    if isinstance(source, (str, Path)):
        meta = json.loads(DatasetPaths.of(source).meta.read_text(encoding="utf-8"))
        return load_split(source, "train"), load_split(source, "test"), meta["lr_size"]
    fit, evl = [], []
    for task in dict.fromkeys(s.task for s in source):
        items = [(s.image, s.task, s.answer) for s in source if s.task == task]
        fit += items[: len(items) // 2]
        evl += items[len(items) // 2 :]
    return fit, evl, lr_size


def _task_report(fit: list[Labeled], evl: list[Labeled], lr_size: int) -> dict[str, float]:
    """LR and HR accuracy of the classifier on one task's items, plus chance and sizes."""
    classes = sorted({it[2] for it in fit + evl})
    y_fit = torch.tensor([classes.index(it[2]) for it in fit])
    y_eval = torch.tensor([classes.index(it[2]) for it in evl])
    views_fit, views_eval = _views(fit, lr_size), _views(evl, lr_size)
    report = {}
    for name in ("lr", "hr"):
        codebook = _codebook(views_fit[name][0])
        x_fit = _bag_of_words(*views_fit[name], codebook)
        x_eval = _bag_of_words(*views_eval[name], codebook)
        report[f"{name}_accuracy"] = _fit_score(x_fit, y_fit, x_eval, y_eval, len(classes))
    chance = torch.bincount(y_eval, minlength=len(classes)).max().item() / len(evl)
    return {**report, "chance": chance, "n_fit": len(fit), "n_eval": len(evl)}


def honesty_check(source: str | Path | Sequence[Sample], *, lr_size: int = 64) -> dict[str, dict[str, float]]:
    """Per task: {"lr_accuracy", "hr_accuracy", "chance", "n_fit", "n_eval"}.

    `source` is a dataset folder (fit on instruct.json, score on test.json; lr_size from its meta.json) or
    a sequence of samples (per task, fit on the first half and score on the second; LR view at `lr_size`;
    make each half a whole number of answer blocks, e.g. 60 samples per task, so both halves are balanced).
    `chance` is the majority-class rate of the eval set (1 / n_classes when balanced).
    """
    fit, evl, lr_size = _split(source, lr_size)
    tasks = dict.fromkeys(it[1] for it in fit)
    return {t: _task_report([it for it in fit if it[1] == t], [it for it in evl if it[1] == t], lr_size) for t in tasks}


def format_report(report: dict[str, dict[str, float]]) -> str:
    """A small table: task, LR acc, HR acc, chance, sizes."""
    lines = [f"{'task':<10} {'LR acc':>7} {'HR acc':>7} {'chance':>7}  fit/eval"]
    for task, r in report.items():
        lines.append(f"{task:<10} {r['lr_accuracy']:7.3f} {r['hr_accuracy']:7.3f} {r['chance']:7.3f}  {r['n_fit']}/{r['n_eval']}")
    return "\n".join(lines)
