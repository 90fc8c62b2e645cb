"""Two real gloo processes under torchrun: DDP, FSDP2 and DeepSpeed ZeRO-2/3 through the same training loop.

One torchrun launch trains every engine in turn (process start-up dominates on 2 CPU cores).
"""

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tiny_recipes import tiny_recipe

WORKER = Path(__file__).with_name("dist_worker.py")
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "deepspeed"
HAS_DEEPSPEED = importlib.util.find_spec("deepspeed") is not None
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dist")
    engines = {"ddp": {"kind": "ddp"}, "fsdp2": {"kind": "fsdp2"}}
    if HAS_DEEPSPEED:
        for stage in ("zero2", "zero3"):
            engines[stage] = {"kind": "deepspeed", "deepspeed_config": str(CONFIGS / f"{stage}.json")}
    recipes = {name: tiny_recipe("instruct", tiny_data, engine=e, train={"epochs": 2}) for name, e in engines.items()}
    (root / "runs.json").write_text(json.dumps(recipes))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(WORKER.parent)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           str(WORKER), str(root / "runs.json"), str(root)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return root


def test_ddp_two_processes_end_with_identical_weights_and_learn(runs):
    w0, w1 = (torch.load(runs / "ddp" / f"weights-rank{r}.pt") for r in (0, 1))
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    losses = _losses(runs / "ddp")
    assert len(losses) == 8 and losses[-1] < losses[0] - 0.5  # 32 samples / (4 x 2 ranks) x 2 epochs


def test_fsdp2_two_processes_match_ddp(runs):
    assert _losses(runs / "fsdp2") == pytest.approx(_losses(runs / "ddp"), abs=2e-4)
    fsdp, ddp = (load_file(runs / k / "final" / "model.safetensors") for k in ("fsdp2", "ddp"))
    assert max((fsdp[k] - ddp[k]).abs().max().item() for k in ddp) < 1e-3


@pytest.mark.skipif(not HAS_DEEPSPEED, reason="deepspeed is not installed (pip install --no-build-isolation deepspeed)")
@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_deepspeed_zero_matches_ddp_and_saves_a_loadable_model(runs, stage):
    assert _losses(runs / stage) == pytest.approx(_losses(runs / "ddp"), abs=2e-3)
    from minigemini.modeling import MiniGeminiForConditionalGeneration

    MiniGeminiForConditionalGeneration.from_pretrained(runs / stage / "final")
