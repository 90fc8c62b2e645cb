"""LLaVA JSON/JSONL reading: bad rows are skipped with counted warnings, never silently, and never kill an epoch."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from PIL import Image

from minigemini.constants import IGNORE_INDEX
from minigemini.data.llava import BadRow, LlavaDataset, PaddingCollator

Q = "<image>\nWhat is in the image?"


def turns(*values: str) -> list[dict]:
    return [{"from": "human" if i % 2 == 0 else "gpt", "value": v} for i, v in enumerate(values)]


def processor(images: list[Image.Image]) -> dict[str, torch.Tensor]:
    """Stand-in image processor: one 2x2 tensor per image, holding its red value."""
    return {"pixel_values": torch.stack([torch.full((3, 2, 2), float(im.getpixel((0, 0))[0])) for im in images])}


@pytest.fixture
def image_root(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (10 * (i + 1), 0, 0)).save(root / f"img{i}.jpg")
    Image.new("RGB", (8, 8), (99, 0, 0)).save(root / "only.png")
    (root / "corrupt.jpg").write_bytes(b"this is not a jpeg")
    return root


@pytest.fixture
def make_dataset(image_root, tokenizer_for):
    tok = tokenizer_for("vicuna_v1")

    def make(path, **kw):
        return LlavaDataset(
            path, image_root, tokenizer=tok, template="vicuna_v1", image_processor=processor,
            tokens_per_image=3, image_token_id=tok.convert_tokens_to_ids("<img>"), **kw,
        )

    return make


def write_jsonl(path, rows: list) -> None:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")


def test_json_array_with_one_image_several_images_and_text_only(tmp_path, make_dataset):
    rows = [
        {"id": "a", "image": "img0.jpg", "conversations": turns(Q, "A cat.")},
        {"id": "b", "image": ["img1.jpg", "img2.jpg"], "conversations": turns("<image>\n<image>\nCompare them.", "Two dogs.")},
        {"id": "c", "conversations": turns("How many birds?", "Three.", "What color?", "Red.")},
    ]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(rows, indent=2))
    ds = make_dataset(path)
    assert len(ds) == 3 and ds.report.total == 0
    assert ds[0]["pixel_values"][:, 0, 0, 0].tolist() == [10.0]
    assert ds[1]["pixel_values"][:, 0, 0, 0].tolist() == [20.0, 30.0]
    assert "pixel_values" not in ds[2]
    assert [x > 0 for x in ds.modality_lengths] == [True, True, False]


def test_bad_rows_are_skipped_with_counted_warnings_naming_file_and_line(tmp_path, make_dataset, caplog):
    path = tmp_path / "data.jsonl"
    write_jsonl(path, [
        {"image": "img0.jpg", "conversations": turns(Q, "A cat.")},
        '{"image": "img0.jpg", "conversations": [',
        {"image": "img0.jpg", "conversations": turns(Q, "A cat.")[::-1]},
        {"image": "img0.jpg", "conversations": turns("<image>\n<image>\nTwo?", "One.")},
        {"image": "nowhere.jpg", "conversations": turns(Q, "A cat.")},
        {"conversations": "not a list"},
        {"image": "img1.jpg", "conversations": turns(Q, "A dog.")},
    ])
    with caplog.at_level(logging.WARNING):
        ds = make_dataset(path)
    assert len(ds) == 2
    assert dict(ds.report.counts) == {
        "malformed_json": 1, "not_alternating": 1, "image_marker_mismatch": 1, "missing_image": 1, "bad_structure": 1
    }
    for line in (2, 3, 4, 5, 6):
        assert f"{path}:{line}: " in caplog.text
    assert "missing_image=1" in ds.report.summary()


def test_strict_fails_fast_on_the_first_bad_row(tmp_path, make_dataset):
    path = tmp_path / "data.jsonl"
    write_jsonl(path, [{"image": "img0.jpg", "conversations": turns(Q, "A cat.")}, "{oops", {"conversations": []}])
    with pytest.raises(BadRow, match=f"{path}:2: malformed_json"):
        make_dataset(path, strict=True)


def test_malformed_json_array_names_the_line(tmp_path, make_dataset):
    path = tmp_path / "data.json"
    path.write_text('[\n{"conversations": []},\n{"conversations": [}\n]')
    with pytest.raises(ValueError, match=f"{path}:3: malformed JSON"):
        make_dataset(path)


def test_corrupt_image_is_replaced_by_the_next_good_row_and_counted(tmp_path, make_dataset):
    path = tmp_path / "data.jsonl"
    write_jsonl(path, [
        {"image": "img0.jpg", "conversations": turns(Q, "A cat.")},
        {"image": "corrupt.jpg", "conversations": turns(Q, "A cat.")},
        {"image": "img2.jpg", "conversations": turns(Q, "A dog.")},
    ])
    ds = make_dataset(path)
    assert len(ds) == 3
    item = ds[1]
    assert torch.equal(item["input_ids"], ds[2]["input_ids"])
    assert item["pixel_values"][0, 0, 0, 0] == 30.0
    assert ds.report.counts["corrupt_image"] == 1 and ds.report.substituted == 1
    assert f"{path}:2: corrupt_image" in ds.report.examples[0]
    with pytest.raises(BadRow, match=f"{path}:2: corrupt_image"):
        make_dataset(path, strict=True)[1]


def test_an_image_the_image_processor_refuses_is_replaced_and_counted(tmp_path, image_root, tokenizer_for):
    from minigemini.image_processing import ImageLoadError, MiniGeminiImageProcessor

    Image.new("RGB", (4000, 3)).save(image_root / "sliver.png")
    real = MiniGeminiImageProcessor(image_size=8, aux_image_size=16)

    def refusing(images):  # a processor that refuses extreme aspect ratios, as the serving guard does
        if any(max(im.size) > 100 * min(im.size) for im in images):
            raise ImageLoadError("image 0: aspect ratio over 100:1")
        return real(images)

    path = tmp_path / "data.jsonl"
    write_jsonl(path, [{"image": "sliver.png", "conversations": turns(Q, "A line.")},
                       {"image": "img1.jpg", "conversations": turns(Q, "A dog.")}])
    tok = tokenizer_for("vicuna_v1")
    ds = LlavaDataset(path, image_root, tokenizer=tok, template="vicuna_v1", image_processor=refusing,
                      tokens_per_image=3, image_token_id=tok.convert_tokens_to_ids("<img>"))
    assert torch.equal(ds[0]["input_ids"], ds[1]["input_ids"])
    assert ds.report.counts == {"unusable_image": 1} and ds.report.substituted == 1
    real.max_image_pixels = 1000  # checked from the header, before decoding
    sized = LlavaDataset(path, image_root, tokenizer=tok, template="vicuna_v1", image_processor=real,
                         tokens_per_image=3, image_token_id=tok.convert_tokens_to_ids("<img>"))
    sized[0]
    assert sized.report.counts == {"image_too_large": 1}


def test_unmaskable_sample_is_counted_and_reported_not_dropped_silently(tmp_path, make_dataset):
    path = tmp_path / "data.jsonl"
    write_jsonl(path, [
        {"conversations": turns("Name?", "José")},  # the tiny tokenizer has no "é": no exact round trip
        {"conversations": turns("How many birds?", "Three.")},
    ])
    ds = make_dataset(path)
    item = ds[0]
    assert torch.equal(item["input_ids"], ds[1]["input_ids"])
    assert ds.report.counts == {"label_round_trip": 1} and ds.report.substituted == 1
    assert "label_round_trip" in ds.report.summary()


def test_official_jpg_to_png_fallback(tmp_path, make_dataset):
    path = tmp_path / "data.jsonl"
    write_jsonl(path, [{"image": "only.jpg", "conversations": turns(Q, "A cat.")}])
    assert make_dataset(path)[0]["pixel_values"][0, 0, 0, 0] == 99.0


def test_truncation_drops_whole_images_and_only_processes_kept_ones(tmp_path, make_dataset):
    path = tmp_path / "data.jsonl"
    conv = turns(Q, "A cat.", "<image>\nAnd this one?", "A dog.")
    write_jsonl(path, [{"image": ["img0.jpg", "img1.jpg"], "conversations": conv}])
    ds = make_dataset(path)
    runs = [i for i, t in enumerate(ds[0]["input_ids"].tolist()) if t == ds.image_token_id]
    assert len(runs) == 6  # two images, 3 placeholders each
    item = make_dataset(path, max_length=runs[3] + 1)[0]  # the cut would fall inside the second run
    assert len(item["input_ids"]) == runs[3] and item["pixel_values"].shape[0] == 1


def test_collator_right_pads_and_concatenates_images(tmp_path, make_dataset, tokenizer_for):
    path = tmp_path / "data.jsonl"
    write_jsonl(path, [
        {"conversations": turns("How many birds are there?", "Three birds sit on the wire.")},
        {"image": ["img1.jpg", "img2.jpg"], "conversations": turns("<image>\n<image>\nCompare.", "Dogs.")},
        {"image": "img0.jpg", "conversations": turns(Q, "A cat.")},
    ])
    ds = make_dataset(path)
    collate = PaddingCollator(tokenizer_for("vicuna_v1").pad_token_id)
    batch = collate([ds[0], ds[1], ds[2]])
    lengths = [len(ds[i]["input_ids"]) for i in range(3)]
    assert batch["input_ids"].shape == (3, max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
    short = lengths.index(min(lengths))
    assert (batch["input_ids"][short, min(lengths):] == collate.pad_token_id).all()
    assert (batch["labels"][short, min(lengths):] == IGNORE_INDEX).all()
    assert batch["pixel_values"][:, 0, 0, 0].tolist() == [20.0, 30.0, 10.0]


def test_mixture_sampler_and_collator_end_to_end(tmp_path, image_root, tokenizer_for):
    from minigemini.data.mixture import load_mixture
    from minigemini.training.data import BatchPlan, make_loader

    write_jsonl(tmp_path / "img.jsonl", [{"image": f"img{i % 3}.jpg", "conversations": turns(Q, "A cat." * (i + 1))} for i in range(6)])
    write_jsonl(tmp_path / "txt.jsonl", [{"conversations": turns("How many birds?", "Three." * (i + 1))} for i in range(5)])
    (tmp_path / "mix.yaml").write_text(
        f"datasets:\n  - {{json: img.jsonl, image_root: {image_root}}}\n  - {{json: txt.jsonl, count: 3}}\n"
    )
    tok = tokenizer_for("vicuna_v1")
    ds = load_mixture(
        tmp_path / "mix.yaml", tokenizer=tok, template="vicuna_v1", image_processor=processor,
        tokens_per_image=3, image_token_id=tok.convert_tokens_to_ids("<img>"),
    )
    assert len(ds) == 9
    plan = BatchPlan(len(ds), batch_size=3, world_size=1, rank=0, seed=0, modality_lengths=ds.modality_lengths)
    loader = make_loader(ds, plan.batches(epoch=0), PaddingCollator(tok.pad_token_id), num_workers=0, seed=0)
    kinds = [("pixel_values" in b, b["pixel_values"].shape[0] if "pixel_values" in b else 0) for b in loader]
    assert sorted(kinds) == [(False, 0), (True, 3), (True, 3)]
    assert "img: 6 samples from 6 rows; no bad samples" in ds.summary()
