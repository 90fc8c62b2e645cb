"""benchmarks/ablation.py --quick: every ablation trains through the demo's path and gets a row, a figure and json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "ablation.py"


def test_quick_ablation_prints_every_row_and_the_official_formula_scores_like_ours(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--run-dir", str(tmp_path)], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"}, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "ablation.json").read_text())
    assert list(summary["accuracy"]) == ["LR-only baseline", "MGM-HR96 (mining, HR 96)", "MGM-HR144 (mining, HR 144)",
                                         "MGM (mining, HR 192)", "MGM-HD (token extension, HR 2x192)"]
    tokens = summary["visual_tokens"]
    assert set(tokens.values()) == {36, 180} and tokens["MGM-HD (token extension, HR 2x192)"] == 180
    assert summary["official_formula"] == summary["accuracy"]["MGM (mining, HR 192)"]  # same answers, same score
    for row in ("LR-only baseline", "MGM-HR96", "official fp32 formula", "59.8"):
        assert row in done.stdout
    assert Image.open(tmp_path / "ablation.png").size[0] > 500
