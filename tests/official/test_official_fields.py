"""Each row of the official config-field table: an absent key reads as transformers / the official code reads it."""

from __future__ import annotations

import json

import pytest
import torch
from official_fixtures import FAMILIES, text_config_default, write_official_checkpoint

from minigemini.official import CheckpointError, read_official
from minigemini.official.fields import FIELDS


def _translate(tmp_path, monkeypatch, family="vicuna", *, drop=(), set_=None, hd=False):
    fixture = write_official_checkpoint(tmp_path, family, hd=hd)
    raw = json.loads((fixture.path / "config.json").read_text())
    for key in drop:
        raw.pop(key, None)
    raw.update(set_ or {})
    (fixture.path / "config.json").write_text(json.dumps(raw))
    monkeypatch.chdir(tmp_path)
    return read_official(fixture.path, weights=False).config


ABSENT = {  # field -> (our config attribute, the value an absent key must give)
    "mm_vision_tower_aux": ("mining", False),
    "mm_vision_select_feature": ("vision_feature_select", "patch"),
    "mm_projector_type": ("projector_type", "linear"),
    "image_size_aux": ("aux_image_size", 320),
    "image_grid": ("image_grid", 1),
    "image_global": ("image_global", False),
    "image_aspect_ratio": ("image_aspect_ratio", "square"),
}
REQUIRED = {"model_type": "MGM type", "mm_vision_tower": "mm_vision_tower", "mm_vision_select_layer": "mm_vision_select_layer"}
CONTEXT = {"tokenizer_model_max_length", "max_sequence_length"}
FAMILY_FIELDS = {"tie_word_embeddings"}


def test_every_table_row_has_a_test():
    assert set(FIELDS) == set(ABSENT) | set(REQUIRED) | CONTEXT | FAMILY_FIELDS


@pytest.mark.parametrize("field", sorted(ABSENT))
def test_absent_field_takes_the_official_default(tmp_path, monkeypatch, field):
    attribute, expected = ABSENT[field]
    assert getattr(_translate(tmp_path, monkeypatch, drop=[field]), attribute) == expected


@pytest.mark.parametrize("field", sorted(REQUIRED))
def test_absent_required_field_is_a_clear_error(tmp_path, monkeypatch, field):
    with pytest.raises(CheckpointError, match=REQUIRED[field]):
        _translate(tmp_path, monkeypatch, drop=[field])


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_absent_tie_word_embeddings_means_the_family_default(tmp_path, monkeypatch, family):
    config = _translate(tmp_path, monkeypatch, family, drop=["tie_word_embeddings"])
    expected = text_config_default(family, "tie_word_embeddings")
    assert expected is (family == "gemma")  # GemmaConfig ties, the Llama/Mixtral classes do not
    assert config.tie_word_embeddings is expected
    assert config.text_config.tie_word_embeddings is expected


def test_context_length_falls_back_through_max_sequence_length_to_2048(tmp_path, monkeypatch):
    assert _translate(tmp_path / "a", monkeypatch).tokenizer_model_max_length == 2048  # as written
    assert _translate(tmp_path / "b", monkeypatch, hd=True).tokenizer_model_max_length == 4096
    older = _translate(tmp_path / "c", monkeypatch, drop=["tokenizer_model_max_length"], set_={"max_sequence_length": 3072})
    assert older.tokenizer_model_max_length == 3072
    neither = _translate(tmp_path / "d", monkeypatch, drop=["tokenizer_model_max_length", "max_sequence_length"])
    assert neither.tokenizer_model_max_length == 2048


def test_without_an_hr_tower_the_model_loads_llava_style(tmp_path, monkeypatch):
    """Absent mm_vision_tower_aux: the HR tower and mining weights in the shards go unused, as in the official model."""
    from minigemini import MiniGeminiForConditionalGeneration

    fixture = write_official_checkpoint(tmp_path, "vicuna")
    raw = json.loads((fixture.path / "config.json").read_text())
    raw.pop("mm_vision_tower_aux")
    (fixture.path / "config.json").write_text(json.dumps(raw))
    monkeypatch.chdir(tmp_path)
    model = MiniGeminiForConditionalGeneration.from_pretrained(fixture.path)
    assert model.mining is None and model.aux_vision_tower is None
    reference = fixture.reference.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, reference[key]), key
