"""Synthetic fine-detail tasks whose answers the LR view provably cannot see.

Framed texture patches (period-2 checkerboard/stripes, dots and grid lines on unsampled pixels, plain)
sit at random cell-aligned positions on a cluttered background. The processor's bilinear 4x-down LR
view turns every kind into the same flat colour, so LR images differ only by layout, never by answer.
Tasks: "texture" (which pattern is framed), "count" (how many of 4 patches are striped), "quadrant"
(which quadrant holds the checkerboard). Answers come from a small fixed vocabulary (`answers(task)`).

    paths = generate_dataset("data/synth", seed=0, n_train=2000, n_test=300)
    print(format_report(honesty_check(paths.root)))
"""

from .dataset import DatasetPaths, generate_dataset, load_split
from .honesty import format_report, honesty_check
from .render import KINDS, Layout, model_views, render, sample_layout
from .tasks import TASKS, Sample, answers, iter_samples, make_sample

__all__ = [
    "KINDS",
    "TASKS",
    "DatasetPaths",
    "Layout",
    "Sample",
    "answers",
    "format_report",
    "generate_dataset",
    "honesty_check",
    "iter_samples",
    "load_split",
    "make_sample",
    "model_views",
    "render",
    "sample_layout",
]
