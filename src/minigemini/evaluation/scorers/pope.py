"""POPE scoring as LLaVA's `eval_pope.py`: first sentence, 'no'/'not' means no, else yes."""

from __future__ import annotations


def parse_pope_answer(prediction: str) -> str:
    """'yes' or 'no' from a free-form reply, following the official rule."""
    text = prediction.split(".")[0] if "." in prediction else prediction
    words = text.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def pope_metrics(predictions: list[str], labels: list[str]) -> dict[str, float]:
    """accuracy, precision, recall, f1 and yes_ratio (fractions); 'yes' is the positive class.

    The official script divides by zero when nothing is predicted positive; here such ratios are 0.
    """
    if len(predictions) != len(labels) or not labels:
        raise ValueError(f"POPE needs one prediction per label, got {len(predictions)} and {len(labels)}")
    pred = [parse_pope_answer(p) == "yes" for p in predictions]
    gold = [label.strip().lower() != "no" for label in labels]
    tp = sum(p and g for p, g in zip(pred, gold))
    fp = sum(p and not g for p, g in zip(pred, gold))
    tn = sum(not p and not g for p, g in zip(pred, gold))
    fn = sum(not p and g for p, g in zip(pred, gold))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": (tp + tn) / len(gold),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": sum(pred) / len(pred),
    }
