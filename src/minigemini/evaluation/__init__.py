"""Evaluation on the Mini-Gemini paper's benchmarks with scoring equal to the official scripts."""

from .benchmarks import BENCHMARKS, PROTOCOLS, get_benchmark
from .judge import Judge, judge_from_settings
from .model_predictor import ModelPredictor
from .predictor import Decoding, EvalRequest, Predictor
from .runner import run_benchmark, score_predictions

__all__ = [
    "BENCHMARKS",
    "PROTOCOLS",
    "Decoding",
    "EvalRequest",
    "Judge",
    "ModelPredictor",
    "Predictor",
    "get_benchmark",
    "judge_from_settings",
    "run_benchmark",
    "score_predictions",
]
