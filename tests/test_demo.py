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


def test_quick_demo_in_a_plain_log_is_clean_and_its_mgm_folder_chats_through_the_cli(tmp_path):
    """Run as a user would with output to a file (no TTY): no warnings or library noise, one line per finished
    stage, the chat command printed at the end; that folder then answers through `minigemini chat`."""
    import os
    import subprocess
    import sys

    run_dir = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "minigemini", "demo", "--quick", "--run-dir", str(run_dir)],
                          capture_output=True, text=True, env=env, timeout=900)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    noisy = [line for line in log.splitlines()
             if any(word in line for word in ("Warning", "warn", "Setting accelerator", "Loading weights", "Writing model",
                                              "it/s", "no bad samples"))]
    assert noisy == []
    for variant in ("LR-only baseline", "MGM (mining)"):
        for stage in ("align", "instruct"):
            assert f"{variant} (seed 0): {stage} stage trained" in log
    folder = run_dir / "seed0" / "mgm" / "instruct" / "final"
    assert f"minigemini chat --model {folder}" in log and f"minigemini serve --model {folder}" in log

    rows = json.loads((run_dir / "results.json").read_text())["fresh_answers"]
    fresh = next((r for r in rows if r["answer"].strip()), rows[0])  # a one-epoch model may answer nothing at all
    chat = runner.invoke(app, ["chat", "--model", str(folder), "--image", fresh["image"], "--prompt", fresh["question"],
                               "--temperature", "0", "--max-new-tokens", "8", "--dtype", "fp32"])
    assert chat.exit_code == 0, chat.output
    assert fresh["answer"].strip() in chat.output  # the demo's own greedy answer (it scores in fp32), via the CLI
