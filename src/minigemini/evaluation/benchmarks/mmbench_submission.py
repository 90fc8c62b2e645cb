"""The xlsx the MMBench evaluation server takes, laid out as LLaVA's convert_mmbench_for_submission."""

from __future__ import annotations

from pathlib import Path

from ..sample import Sample

DROPPED_COLUMNS = ("hint", "category", "source", "image", "comment", "l2-category", "L2-category")
PREDICTION_POSITION = 6


def write_submission(pairs: list[tuple[Sample, str]], path: Path) -> Path:
    """One row per tsv row (generated rotations are not sent), with a 'prediction' column."""
    try:
        import openpyxl  # noqa: F401  (pandas' xlsx engine)
        import pandas as pd
    except ImportError as error:
        raise ImportError(
            "MMBench submission xlsx not written: it needs pandas and openpyxl (pip install pandas openpyxl), "
            "then re-score with `minigemini eval score mmbench ...`"
        ) from error
    rows = []
    for sample, prediction in pairs:
        if sample.meta["row"] is None:
            continue
        row = {k: v for k, v in sample.meta["row"].items() if k not in DROPPED_COLUMNS}
        items = list(row.items())
        items.insert(min(PREDICTION_POSITION, len(items)), ("prediction", prediction))
        rows.append(dict(items))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_excel(path, index=False, engine="openpyxl")
    return path
