"""Writing a LLaVA-format dataset folder: images/*.png, align.json, instruct.json, test.json, meta.json."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from minigemini.constants import IMAGE_TOKEN

from .render import FRAME_CELLS, KINDS, patch_cells, scale_factor
from .tasks import CAPTION_PROMPTS, QUESTIONS, TASKS, Sample, answers, iter_samples

FORMAT_VERSION = 2


@dataclass(frozen=True)
class DatasetPaths:
    """Files of a generated dataset; json "image" fields are relative to `image_folder` (LLaVA convention)."""

    root: Path
    image_folder: Path
    align: Path
    instruct: Path
    test: Path
    meta: Path

    @classmethod
    def of(cls, root: str | Path) -> DatasetPaths:
        root = Path(root)
        return cls(root, root / "images", root / "align.json", root / "instruct.json", root / "test.json", root / "meta.json")


def _turns(human: str, gpt: str) -> list[dict[str, str]]:
    return [{"from": "human", "value": f"{IMAGE_TOKEN}\n{human}"}, {"from": "gpt", "value": gpt}]


def _qa_row(name: str, s: Sample) -> dict:
    return {"id": name, "image": f"{name}.png", "task": s.task, "conversations": _turns(s.question, s.answer)}


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def generate_dataset(
    out_dir: str | Path,
    *,
    seed: int,
    n_train: int,
    n_test: int,
    hr_size: int = 256,
    lr_size: int = 64,
    tasks: Sequence[str] = TASKS,
    kinds: Sequence[str] = KINDS,
) -> DatasetPaths:
    """Render n_train + n_test images (tasks round-robin) and write the dataset; byte-identical for a given seed.

    Each train image gets one caption row (align.json) and one question row (instruct.json); each test
    image one question row (test.json). Question rows carry "task" next to the LLaVA keys.
    """
    unknown = set(tasks) - set(TASKS)
    if unknown or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {TASKS}, got {tuple(tasks)}")
    scale_factor(hr_size, lr_size)
    paths = DatasetPaths.of(out_dir)
    paths.image_folder.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {"align": [], "train": [], "test": []}
    balance: dict[str, dict[str, Counter]] = {split: {t: Counter() for t in tasks} for split in ("train", "test")}
    for split, n in (("train", n_train), ("test", n_test)):
        samples = iter_samples(seed, split, n, tasks=tasks, hr_size=hr_size, lr_size=lr_size, kinds=kinds)
        for i, s in enumerate(samples):
            name = f"{split}_{i:05d}"
            Image.fromarray(s.image).save(paths.image_folder / f"{name}.png", compress_level=1)
            rows[split].append(_qa_row(name, s))
            balance[split][s.task][s.answer] += 1
            if split == "train":
                rows["align"].append({"id": name, "image": f"{name}.png", "conversations": _turns(s.caption_prompt, s.caption)})
    _write_json(paths.align, rows["align"])
    _write_json(paths.instruct, rows["train"])
    _write_json(paths.test, rows["test"])
    vocab = {t: list(answers(t, kinds)) for t in tasks}
    meta = {
        "generator": "minigemini.data.synthetic",
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
        "hr_size": hr_size,
        "lr_size": lr_size,
        "patch_px": {t: patch_cells(t, lr_size) * hr_size // lr_size for t in tasks},
        "frame_px": FRAME_CELLS * hr_size // lr_size,
        "tasks": list(tasks),
        "kinds": list(kinds),
        "answers": vocab,
        "answer_vocabulary": sorted({a for v in vocab.values() for a in v}),
        "question_templates": {t: list(QUESTIONS[t]) for t in tasks},
        "caption_prompts": list(CAPTION_PROMPTS),
        "class_balance": {split: {t: {a: c[a] for a in vocab[t]} for t, c in b.items()} for split, b in balance.items()},
    }
    _write_json(paths.meta, meta)
    return paths


def load_split(root: str | Path, split: str) -> list[tuple[np.ndarray, str, str]]:
    """(image [H, H, 3] uint8, task, answer) per row of instruct.json ("train") or test.json ("test")."""
    paths = DatasetPaths.of(root)
    rows = json.loads((paths.instruct if split == "train" else paths.test).read_text(encoding="utf-8"))
    return [
        (np.asarray(Image.open(paths.image_folder / r["image"]).convert("RGB")), r["task"], r["conversations"][1]["value"])
        for r in rows
    ]
