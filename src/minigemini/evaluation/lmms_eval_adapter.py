"""lmms-eval plugin: `python -m lmms_eval --model minigemini --model_args pretrained=PATH[,device=cuda,batch_size=4]`.

Importing this module needs lmms-eval. It registers the model with the legacy `register_model`
decorator, and `manifest()` serves lmms-eval >= 0.5's entry-point group `lmms_eval.models`
(`minigemini = "minigemini.evaluation.lmms_eval_adapter:manifest"`).
"""

from __future__ import annotations

try:
    from lmms_eval.api.model import lmms
    from lmms_eval.api.registry import register_model
except ImportError as error:  # pragma: no cover - exercised only without lmms-eval
    raise ImportError(
        "minigemini's lmms-eval adapter needs lmms-eval installed; or use `minigemini eval`, which needs no harness"
    ) from error

from PIL import Image

from ..answering import cut_at_stops
from .predictor import Decoding, EvalRequest, Predictor

MODEL_NAME = "minigemini"
DEFAULT_MAX_NEW_TOKENS = 1024
CLASS_PATH = "minigemini.evaluation.lmms_eval_adapter.MiniGeminiLMMS"


def decoding_from_gen_kwargs(gen_kwargs: dict) -> Decoding:
    """lmms-eval `generation_kwargs` -> our `Decoding` (temperature 0 means greedy, as in lmms-eval models)."""
    temperature = float(gen_kwargs.get("temperature", 0) or 0)
    until = gen_kwargs.get("until")
    return Decoding(
        max_new_tokens=int(gen_kwargs.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
        do_sample=bool(gen_kwargs.get("do_sample", False)) and temperature > 0,
        temperature=temperature,
        num_beams=int(gen_kwargs.get("num_beams", 1) or 1),
        stops=_stops(until),
    )


def _stops(until: list[str] | str | None) -> tuple[str, ...]:
    return (until,) if isinstance(until, str) else tuple(until or ())


@register_model(MODEL_NAME)
class MiniGeminiLMMS(lmms):
    """A simple (non-chat) lmms-eval model backed by `ModelPredictor`."""

    is_simple = True

    def __init__(
        self,
        pretrained: str | None = None,
        device: str = "cpu",
        batch_size: int | str = 1,
        predictor: Predictor | None = None,
        **_: object,
    ):
        super().__init__()
        if predictor is None:
            if not pretrained:
                raise ValueError("pass --model_args pretrained=<minigemini checkpoint folder>")
            from .model_predictor import ModelPredictor

            predictor = ModelPredictor.from_pretrained(pretrained, device=device)
        self.predictor = predictor
        self.batch_size = int(batch_size)

    def _request(self, instance) -> tuple[EvalRequest, object]:
        context, gen_kwargs, doc_to_visual, doc_id, task, split = instance.args
        visuals = doc_to_visual(self.task_dict[task][split][doc_id]) or []
        if not all(isinstance(v, Image.Image) for v in visuals):
            raise ValueError(f"task {task!r} gives non-image visuals (video/audio); minigemini takes images only")
        images = [v.convert("RGB") for v in visuals]
        return EvalRequest(context, images, decoding_from_gen_kwargs(gen_kwargs)), gen_kwargs.get("until")

    def generate_until(self, requests) -> list[str]:
        answers: list[str] = []
        for start in range(0, len(requests), self.batch_size):
            prepared = [self._request(instance) for instance in requests[start : start + self.batch_size]]
            texts = self.predictor.predict([request for request, _ in prepared])
            # ModelPredictor already stopped at `until`; any other predictor's text is cut by the same matcher
            answers += [cut_at_stops(text, _stops(until)) for text, (_, until) in zip(texts, prepared)]
        return answers

    def loglikelihood(self, requests):
        raise NotImplementedError(
            "minigemini's lmms-eval adapter runs generate_until tasks only; loglikelihood tasks are not supported"
        )

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("minigemini's lmms-eval adapter does not run multi-round generation tasks")


def manifest():
    """The entry-point payload for lmms-eval's model registry (v0.5+)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_NAME, simple_class_path=CLASS_PATH)
