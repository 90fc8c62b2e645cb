"""Test helper: run the real `minigemini` CLI in a subprocess that stops inside a chosen call, to kill -9 it there.

`start_paused(args, "pkg.module:Class.method", n, flag)` runs `minigemini ARGS` with `Class.method` wrapped:
the n-th call runs, then writes `flag` and sleeps, so the test knows exactly what is on disk when it kills.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC_DIR = Path(__file__).resolve().parents[1] / "src"

_RUNNER = """
import importlib, sys, time
from pathlib import Path

target, n, flag = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
module_name, qualname = target.split(":")
*path, attr = qualname.split(".")
owner = importlib.import_module(module_name)
for part in path:
    owner = getattr(owner, part)
real, calls = getattr(owner, attr), [0]

def paused(*args, **kwargs):
    result = real(*args, **kwargs)
    calls[0] += 1
    if calls[0] == n:
        flag.write_text("paused")
        time.sleep(600)
    return result

setattr(owner, attr, paused)
sys.argv = ["minigemini", *sys.argv[4:]]
from minigemini.cli import main
main()
"""


def start_paused(args: list[str], target: str, n: int, flag: Path, env: dict | None = None) -> subprocess.Popen:
    """Start `minigemini ARGS`, pausing forever after the n-th call of `target` ("module:Qual.name").

    Its stderr goes to FLAG.stderr (a file, so a chatty child never blocks on a full pipe)."""
    environment = {**os.environ, "PYTHONPATH": str(SRC_DIR), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                   "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    with _stderr_path(flag).open("wb") as stderr:
        return subprocess.Popen([sys.executable, "-c", _RUNNER, target, str(n), str(flag), *args], env=environment,
                                stdout=subprocess.DEVNULL, stderr=stderr)


def _stderr_path(flag: Path) -> Path:
    return flag.with_name(flag.name + ".stderr")


def kill_when_paused(proc: subprocess.Popen, flag: Path, timeout: float = 240) -> None:
    """Wait for the pause (failing with the child's stderr if it exits first), then SIGKILL it."""
    deadline = time.monotonic() + timeout
    try:
        while not flag.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the CLI exited ({proc.returncode}) before the pause:\n{_stderr_path(flag).read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError("the CLI never reached the pause")
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
