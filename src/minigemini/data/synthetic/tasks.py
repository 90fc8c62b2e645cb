"""Tasks: balanced labels, question templates and captions on top of class-blind layouts.

Each sample draws its layout and its labels from separate seeded streams, so the layout (and hence the
LR view) is statistically independent of the answer. Streams are keyed by (seed, split, task, index):
a sample does not depend on how many others are generated, or on which other tasks are enabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from .render import KINDS, QUADRANTS, Layout, render, sample_layout

TASKS = ("texture", "count", "quadrant")
COUNT_WORDS = ("zero", "one", "two", "three", "four")
SPLITS = ("train", "test")

STRIPED = ("vertical stripes", "horizontal stripes")
"""The count task counts patches of these kinds ("striped"); the quadrant task looks for the checkerboard."""
QUESTIONS = {
    "texture": (
        "What pattern fills the framed square?",
        "Which texture is inside the white frame?",
        "What is the pattern in the framed patch?",
    ),
    "count": ("How many striped patches are there?", "Count the striped patches.", "How many patches have stripes?"),
    "quadrant": (
        "Which quadrant contains the checkerboard?",
        "Where is the checkerboard patch?",
        "In which quadrant is the checkerboard?",
    ),
}
CAPTION_PROMPTS = ("Describe the image briefly.", "What does this image show?", "Write a short caption for the image.")


@dataclass(frozen=True)
class Sample:
    """One image [H, H, 3] uint8 with its question, answer, caption and caption request."""

    image: np.ndarray
    task: str
    question: str
    answer: str
    caption: str
    caption_prompt: str


def answers(task: str, kinds: Sequence[str] = KINDS) -> tuple[str, ...]:
    """The fixed answer vocabulary of a task."""
    return {"texture": tuple(kinds), "count": COUNT_WORDS, "quadrant": QUADRANTS}[task]


def _rng(seed: int, split: str, task: str, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), TASKS.index(task), stream, index])


def _balanced_class(seed: int, split: str, task: str, index: int, n_classes: int) -> int:
    """Class of sample `index`: each consecutive block of n_classes samples is a random permutation of all classes."""
    block, pos = divmod(index, n_classes)
    return int(_rng(seed, split, task, 1, block).permutation(n_classes)[pos])


def _assign(task: str, cls: int, rng: np.random.Generator, kinds: Sequence[str]) -> list[str]:
    """Texture kind per patch (layout order) for answer class `cls`."""
    if task == "texture":
        return [kinds[cls]]
    if task == "count":  # cls striped patches, the rest any non-striped kind
        striped = [k for k in kinds if k in STRIPED]
        unstriped = [k for k in kinds if k not in STRIPED]
        hits = set(rng.permutation(4)[:cls].tolist())
        return [str(rng.choice(striped if i in hits else unstriped)) for i in range(4)]
    others = [str(k) for k in rng.choice([k for k in kinds if k != "checkerboard"], size=3, replace=False)]
    return others[:cls] + ["checkerboard"] + others[cls:]  # quadrant: the checkerboard only in quadrant cls


def caption(layout: Layout, kinds: Sequence[str]) -> str:
    """E.g. 'Four framed patches on a cluttered background: dots at top left, grid at top right, ...'."""
    hr_size = layout.background.shape[0]
    head = "A framed patch" if len(kinds) == 1 else f"{COUNT_WORDS[len(kinds)].capitalize()} framed patches"
    parts = [f"{k} at {p.location(hr_size)}" for p, k in zip(layout.patches, kinds)]
    return f"{head} on a cluttered background: {', '.join(parts)}."


def make_sample(
    seed: int, split: str, task: str, index: int, *, hr_size: int = 256, lr_size: int = 64, kinds: Sequence[str] = KINDS
) -> Sample:
    """Sample `index` of (seed, split, task); answers are balanced over every block of len(answers) indices."""
    if not set(kinds) <= set(KINDS) or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be distinct names from {KINDS}")
    if task == "count" and not (set(kinds) & set(STRIPED) and set(kinds) - set(STRIPED)):
        raise ValueError("the count task needs a striped and a non-striped kind")
    if task == "quadrant" and ("checkerboard" not in kinds or len(kinds) < 4):
        raise ValueError("the quadrant task needs the checkerboard and 3 other kinds")
    layout = sample_layout(_rng(seed, split, task, 0, index), task, hr_size, lr_size)
    vocab = answers(task, kinds)
    cls = _balanced_class(seed, split, task, index, len(vocab))
    rng = _rng(seed, split, task, 2, index)
    patch_kinds = _assign(task, cls, rng, kinds)
    question = QUESTIONS[task][rng.integers(len(QUESTIONS[task]))]
    prompt = CAPTION_PROMPTS[rng.integers(len(CAPTION_PROMPTS))]
    image = render(layout, patch_kinds)
    return Sample(image, task, question, vocab[cls], caption(layout, patch_kinds), prompt)


def iter_samples(
    seed: int,
    split: str,
    n: int,
    *,
    tasks: Sequence[str] = TASKS,
    hr_size: int = 256,
    lr_size: int = 64,
    kinds: Sequence[str] = KINDS,
) -> Iterator[Sample]:
    """n samples, tasks round-robin (sample i has task tasks[i % len(tasks)])."""
    for i in range(n):
        task = tasks[i % len(tasks)]
        yield make_sample(seed, split, task, i // len(tasks), hr_size=hr_size, lr_size=lr_size, kinds=kinds)
