"""`minigemini serve --engine vllm` replaces itself with vLLM's OpenAI server, our limits turned into its flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minigemini.cli import app
from minigemini.vllm import launch


class Execed(Exception):
    pass


@pytest.fixture
def execve(monkeypatch):
    calls = []

    def fake_execve(path, argv, env):
        calls.append((path, argv, env))
        raise Execed

    monkeypatch.setattr(launch.os, "execve", fake_execve)
    return calls


def test_serve_engine_vllm_execs_vllms_server_with_our_limits(execve, tmp_path):
    result = CliRunner().invoke(app, ["serve", "--engine", "vllm", "--model", str(tmp_path), "--port", "8123",
                                      "--max-images", "3", "--max-batch-size", "32", "--max-prompt-tokens", "900",
                                      "--max-tokens-limit", "100", "--api-key", "sekret"])
    assert isinstance(result.exception, Execed)
    path, argv, env = execve[0]
    assert path == argv[0] == str(launch.vllm_python())
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    flags = dict(zip(argv[3::2], argv[4::2]))
    assert flags["--model"] == str(tmp_path) and flags["--port"] == "8123" and flags["--max-num-seqs"] == "32"
    assert json.loads(flags["--limit-mm-per-prompt"]) == {"image": 3}
    assert flags["--max-model-len"] == "1000"
    assert flags["--allowed-media-domains"] == launch.BLOCK_ALL_MEDIA_DOMAINS
    assert env["VLLM_API_KEY"] == "sekret" and "sekret" not in argv


def test_serve_engine_vllm_refuses_what_vllm_cannot_apply(execve, tmp_path):
    for extra in (["--allow-remote-images", "--remote-image-host", "*.example.com"], ["--ui"]):
        result = CliRunner().invoke(app, ["serve", "--engine", "vllm", "--model", str(tmp_path), *extra])
        assert result.exit_code == 2 and not execve, result.output


def test_an_official_folder_is_converted_once_then_served(execve, tmp_path, monkeypatch):
    from official.official_fixtures import write_official_checkpoint

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    official = write_official_checkpoint(tmp_path / "zoo", "vicuna").path
    served = []
    for _ in range(2):
        CliRunner().invoke(app, ["serve", "--engine", "vllm", "--model", str(official)])
        flags = dict(zip(execve[-1][1][3::2], execve[-1][1][4::2]))
        served.append(flags["--model"])
        assert flags["--served-model-name"] == official.name
    assert served[0] == served[1] and served[0].startswith(str(tmp_path / "cache"))
    assert json.loads((Path(served[0]) / "config.json").read_text())["model_type"] == "minigemini"
