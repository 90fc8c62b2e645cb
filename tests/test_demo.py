"""`minigemini demo --quick`: the whole main job runs offline, writes its table and pictures, and reuses its cache."""

from __future__ import annotations

import json

from PIL import Image
from typer.testing import CliRunner

from minigemini.cli import app

runner = CliRunner()


def test_quick_demo_writes_results_and_plots_then_reuses_the_trained_models(tmp_path):
    run_dir = tmp_path / "demo"
    first = runner.invoke(app, ["demo", "--quick", "--run-dir", str(run_dir)])
    assert first.exit_code == 0, first.output
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results["accuracy"]) == {"LR-only baseline", "MGM (mining)"}
    assert results["visual_tokens"]["LR-only baseline"] == results["visual_tokens"]["MGM (mining)"] == 36
    for name in ("loss_curves", "accuracy", "mining_attention"):
        image = Image.open(results["figures"][name])
        assert image.size[0] > 300 and image.size[1] > 200
    assert len(results["fresh_answers"]) == 2 and all(r["question"] for r in results["fresh_answers"])
    assert "Held-out accuracy" in first.output and "LR acc" in first.output  # the table and the honesty check

    second = runner.invoke(app, ["demo", "--quick", "--run-dir", str(run_dir)])
    assert second.exit_code == 0, second.output
    assert second.output.count("cached") == 2


def test_quick_demo_retrains_when_a_setting_that_shapes_the_models_changed(tmp_path):
    run_dir = tmp_path / "demo"
    assert runner.invoke(app, ["demo", "--quick", "--run-dir", str(run_dir)]).exit_code == 0
    changed = runner.invoke(app, ["demo", "--quick", "--run-dir", str(run_dir), "--n-train", "24"])
    assert changed.exit_code == 0, changed.output
    assert "differs in n_train" in changed.output and "cached" not in changed.output
    assert json.loads((run_dir / "data" / "seed0" / "meta.json").read_text())["n_train"] == 24
