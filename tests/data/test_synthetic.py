"""Synthetic fine-detail tasks: deterministic, LLaVA-format, and invisible to the processor's LR view."""

from __future__ import annotations

import json
from itertools import product

import numpy as np
import pytest
from PIL import Image

from minigemini.constants import IMAGE_TOKEN
from minigemini.data.synthetic import (
    KINDS,
    TASKS,
    answers,
    generate_dataset,
    honesty_check,
    iter_samples,
    model_views,
    render,
    sample_layout,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("synth"), seed=7, n_train=36, n_test=18)


def _snapshot(paths) -> dict[str, bytes | np.ndarray]:
    files = {p.name: p.read_bytes() for p in (paths.align, paths.instruct, paths.test, paths.meta)}
    images = {p.name: np.asarray(Image.open(p)) for p in sorted(paths.image_folder.glob("*.png"))}
    return files | images


def test_same_seed_gives_byte_identical_json_and_identical_pixels(tmp_path, dataset):
    again = _snapshot(generate_dataset(tmp_path / "again", seed=7, n_train=36, n_test=18))
    first = _snapshot(dataset)
    assert again.keys() == first.keys()
    for name, value in first.items():
        assert np.array_equal(value, again[name]) if isinstance(value, np.ndarray) else value == again[name], name


def test_different_seeds_give_different_images_and_questions(tmp_path, dataset):
    other = _snapshot(generate_dataset(tmp_path / "other", seed=8, n_train=36, n_test=18))
    first = _snapshot(dataset)
    assert other["instruct.json"] != first["instruct.json"]
    assert all(not np.array_equal(first[n], other[n]) for n in first if n.endswith(".png"))


def test_a_sample_does_not_depend_on_how_many_are_generated():
    few, many = list(iter_samples(3, "train", 4)), list(iter_samples(3, "train", 9))
    for a, b in zip(few, many):
        assert np.array_equal(a.image, b.image) and (a.question, a.answer, a.caption) == (b.question, b.answer, b.caption)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize(("hr_size", "lr_size"), [(256, 64), (192, 48)])  # the second is the demo's geometry
def test_lr_view_of_a_layout_is_the_same_whatever_the_textures(task, hr_size, lr_size):
    rng = np.random.default_rng(0)
    layout = sample_layout(rng, task, hr_size, lr_size)
    n = len(layout.patches)
    assignments = [[k] * n for k in KINDS] + [list(rng.choice(KINDS, size=n)) for _ in range(4)]
    hr, lr = model_views(np.stack([render(layout, a) for a in assignments]), lr_size)
    assert lr.shape == (len(assignments), 3, lr_size, lr_size)
    assert (lr - lr[:1]).abs().max() < 1e-5  # float rounding only
    hr_gap = (hr[:, None] - hr[None]).abs().amax((2, 3, 4))
    for i, j in product(range(len(KINDS)), repeat=2):  # the HR view tells every pair of kinds apart (contrast >= 40/255)
        assert i == j or hr_gap[i, j] > 0.5, (KINDS[i], KINDS[j])


def test_honesty_check_lr_is_at_chance_and_hr_is_near_perfect():
    """120 samples per task, fit on 60 and score on 60: LR within 0.15 of chance (~3 sd), HR >= 0.9."""
    report = honesty_check(list(iter_samples(11, "test", 360)))
    assert set(report) == set(TASKS)
    for task, r in report.items():
        assert r["chance"] == pytest.approx(1 / len(answers(task))), task
        assert abs(r["lr_accuracy"] - r["chance"]) <= 0.15, (task, r)
        assert r["hr_accuracy"] >= 0.9, (task, r)


def test_honesty_check_runs_on_a_dataset_folder(dataset):
    report = honesty_check(dataset.root)
    assert {t: (r["n_fit"], r["n_eval"]) for t, r in report.items()} == {t: (12, 6) for t in TASKS}


def test_files_are_llava_format_with_one_image_per_marker(dataset):
    meta = json.loads(dataset.meta.read_text())
    for path in (dataset.align, dataset.instruct, dataset.test):
        rows = json.loads(path.read_text())
        assert len({r["id"] for r in rows}) == len(rows)
        for r in rows:
            human, gpt = r["conversations"]
            assert (human["from"], gpt["from"]) == ("human", "gpt")
            assert human["value"].startswith(f"{IMAGE_TOKEN}\n") and human["value"].count(IMAGE_TOKEN) == 1
            assert IMAGE_TOKEN not in gpt["value"]
            assert Image.open(dataset.image_folder / r["image"]).size == (256, 256)
            if path != dataset.align:
                assert gpt["value"] in meta["answers"][r["task"]]
    assert len(json.loads(dataset.align.read_text())) == len(json.loads(dataset.instruct.read_text())) == 36
    assert len(list(dataset.image_folder.glob("*.png"))) == 36 + 18


def test_answers_are_balanced_and_listed_in_meta(dataset):
    meta = json.loads(dataset.meta.read_text())
    assert meta["answers"] == {t: list(answers(t)) for t in TASKS}
    for task in TASKS:  # 12 train questions per task: whole blocks of 4 (quadrant) and 6 (texture); count has 5 classes
        counts = list(meta["class_balance"]["train"][task].values())
        assert sum(counts) == 12 and max(counts) - min(counts) <= 1


def test_rejects_scales_where_the_lr_view_could_see_the_textures(tmp_path):
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, seed=0, n_train=1, n_test=1, hr_size=128, lr_size=64)


@pytest.mark.parametrize("task", TASKS)
def test_patches_fit_their_region_and_cover_at_least_one_whole_lr_token(task):
    """texture: one patch anywhere; quadrant: one inside each quadrant; count: each inside its own 4x4 grid cell."""
    from minigemini.data.synthetic.render import FRAME_CELLS, patch_cells

    hr_size, lr_size = 192, 48
    f, cells = hr_size // lr_size, patch_cells(task, lr_size)
    assert cells >= 8  # the ViT's 8-px token fits inside
    for seed in range(20):
        layout = sample_layout(np.random.default_rng(seed), task, hr_size, lr_size)
        boxes = [(p.top - FRAME_CELLS * f, p.left - FRAME_CELLS * f, p.size + 2 * FRAME_CELLS * f) for p in layout.patches]
        assert all(p.size == cells * f for p in layout.patches)
        region = {"texture": hr_size, "quadrant": hr_size // 2, "count": hr_size // 4}[task]
        cells_used = set()
        for top, left, side in boxes:
            assert 0 <= top and 0 <= left and top + side <= hr_size and left + side <= hr_size
            cell = (top // region, left // region)
            assert ((top + side - 1) // region, (left + side - 1) // region) == cell  # never crosses its region
            cells_used.add(cell)
        assert len(cells_used) == len(boxes)
