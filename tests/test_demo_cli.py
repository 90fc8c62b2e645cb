"""`minigemini demo`: --seeds is honoured with --quick too."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import minigemini.demo as demo
from minigemini.cli import app


@pytest.mark.parametrize(("args", "seeds"), [([], (0, 1, 2)), (["--quick"], (0,)), (["--quick", "--seeds", "0,1,2"], (0, 1, 2)),
                                             (["--quick", "--seeds", "5"], (5,))])
def test_seeds_are_honoured_with_and_without_quick(monkeypatch, args, seeds):
    seen = []
    monkeypatch.setattr(demo, "run_demo", seen.append)
    result = CliRunner().invoke(app, ["demo", *args])
    assert result.exit_code == 0, result.output
    assert seen[0].seeds == seeds
