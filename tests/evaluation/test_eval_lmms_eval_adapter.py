"""The lmms-eval adapter against a stub of lmms-eval's registry/model API.

lmms-eval itself is not installed: its wheel requires torchvision and timm, which break this CPU stack.
The stub reproduces the parts the adapter touches (api.model.lmms, api.registry.register_model,
models.registry_v2.ModelManifest, and `Instance.args` as a 6-tuple).
"""

import importlib
import sys
from dataclasses import dataclass

import pytest
from PIL import Image

from eval_helpers import ScriptedPredictor

STUB_FILES = {
    "lmms_eval/__init__.py": "",
    "lmms_eval/api/__init__.py": "",
    "lmms_eval/api/model.py": (
        "import abc\n"
        "class lmms(abc.ABC):\n"
        "    is_simple = True\n"
        "    def __init__(self):\n"
        "        self.task_dict = {}\n"
    ),
    "lmms_eval/api/registry.py": (
        "from lmms_eval.api.model import lmms\n"
        "MODEL_REGISTRY = {}\n"
        "def register_model(*names):\n"
        "    def decorate(cls):\n"
        "        for name in names:\n"
        "            assert issubclass(cls, lmms)\n"
        "            MODEL_REGISTRY[name] = cls\n"
        "        return cls\n"
        "    return decorate\n"
    ),
    "lmms_eval/models/__init__.py": "",
    "lmms_eval/models/registry_v2.py": (
        "from dataclasses import dataclass\n"
        "@dataclass(frozen=True)\n"
        "class ModelManifest:\n"
        "    model_id: str\n"
        "    simple_class_path: str | None = None\n"
        "    chat_class_path: str | None = None\n"
        "    aliases: tuple = ()\n"
    ),
}


@dataclass
class StubInstance:
    args: tuple


@pytest.fixture()
def adapter(tmp_path, monkeypatch):
    for relative, text in STUB_FILES.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "lmms_eval" or m.startswith("lmms_eval.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delitem(sys.modules, "minigemini.evaluation.lmms_eval_adapter", raising=False)
    module = importlib.import_module("minigemini.evaluation.lmms_eval_adapter")
    yield module
    sys.modules.pop("minigemini.evaluation.lmms_eval_adapter", None)


def test_adapter_registers_minigemini_and_offers_an_entry_point_manifest(adapter):
    from lmms_eval.api.registry import MODEL_REGISTRY

    assert MODEL_REGISTRY["minigemini"] is adapter.MiniGeminiLMMS
    manifest = adapter.manifest()
    assert manifest.model_id == "minigemini"
    module_name, class_name = manifest.simple_class_path.rsplit(".", 1)
    assert getattr(importlib.import_module(module_name), class_name) is adapter.MiniGeminiLMMS


def test_generate_until_passes_images_and_decoding_and_cuts_stop_strings(adapter):
    predictor = ScriptedPredictor(lambda prompt: f"answer to {prompt} ASSISTANT: more")
    model = adapter.MiniGeminiLMMS(predictor=predictor, batch_size=2)
    docs = {0: {"img": Image.new("RGB", (4, 4))}, 1: {"img": Image.new("L", (4, 4))}, 2: {"img": None}}
    model.task_dict = {"textvqa_val": {"validation": docs}}

    def doc_to_visual(doc):
        return [doc["img"]] if doc["img"] is not None else []

    requests = [
        StubInstance((f"q{i}", {"until": ["ASSISTANT:"], "max_new_tokens": 16, "temperature": 0}, doc_to_visual, i, "textvqa_val", "validation"))
        for i in range(3)
    ]
    assert model.generate_until(requests) == ["answer to q0 ", "answer to q1 ", "answer to q2 "]
    assert predictor.image_counts == [1, 1, 0]


def test_generation_kwargs_map_to_decoding(adapter):
    decoding = adapter.decoding_from_gen_kwargs({"max_new_tokens": 128, "temperature": 0.2, "do_sample": True, "num_beams": 5})
    assert (decoding.max_new_tokens, decoding.do_sample, decoding.temperature, decoding.num_beams) == (128, True, 0.2, 5)
    assert adapter.decoding_from_gen_kwargs({"temperature": 0, "do_sample": True}).do_sample is False


def test_loglikelihood_says_it_is_unsupported(adapter):
    model = adapter.MiniGeminiLMMS(predictor=ScriptedPredictor(str))
    with pytest.raises(NotImplementedError, match="generate_until tasks only"):
        model.loglikelihood([])


def test_missing_checkpoint_argument_is_a_clear_error(adapter):
    with pytest.raises(ValueError, match="pretrained="):
        adapter.MiniGeminiLMMS()
