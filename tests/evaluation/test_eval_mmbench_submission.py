"""MMBench: the xlsx for the official server keeps tsv rows only, with LLaVA's column layout."""

import pytest

from minigemini.evaluation import run_benchmark

from eval_helpers import ScriptedPredictor


def test_submission_xlsx_has_one_row_per_tsv_row_with_prediction_column(prepared, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("openpyxl")
    data = prepared("mmbench")
    record = run_benchmark("mmbench", ScriptedPredictor(lambda prompt: "A"), data, tmp_path, progress=False)
    sheet = pd.read_excel(record["files"]["submission"])
    assert list(sheet.columns) == ["index", "question", "A", "B", "C", "D", "prediction", "answer", "split"]
    assert sheet["index"].tolist() == [0, 1]
    assert sheet["prediction"].tolist() == ["A", "A"]
    # q0 answer B: wrong in pass 0; q1 answer A: right in pass 0, its rotation expects B -> circular wrong
    assert record["metrics"] == {"circular": 0.0, "single_pass": 50.0}


def test_missing_openpyxl_is_reported_with_the_fix(prepared, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_openpyxl(name, *args, **kwargs):
        if name == "openpyxl":
            raise ImportError("No module named 'openpyxl'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openpyxl)
    record = run_benchmark("mmbench", ScriptedPredictor(lambda prompt: "B"), prepared("mmbench"), tmp_path, progress=False)
    assert "submission" not in record["files"]
    assert any("pip install pandas openpyxl" in note for note in record["notes"])
