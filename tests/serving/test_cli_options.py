"""`minigemini serve` has one option per `ServerSettings` field, with the field's default and help."""

from __future__ import annotations

import dataclasses

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from minigemini.serving import cli
from minigemini.serving.settings import ServerSettings


@pytest.fixture
def captured(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "run_server", lambda settings, **where: calls.append((settings, where)))
    monkeypatch.delenv("MINIGEMINI_API_KEY", raising=False)
    return calls


def test_every_settings_field_is_an_option_with_help():
    params = {p.name: p for p in get_command(cli.app).commands["serve"].params}
    for f in dataclasses.fields(ServerSettings):
        assert f.name in params, f"ServerSettings.{f.name} has no serve option"
        assert f.metadata.get("help"), f"ServerSettings.{f.name} has no help text"
        assert params[f.name].help == f.metadata["help"]


def test_only_model_given_gives_the_default_settings(captured):
    result = CliRunner().invoke(cli.app, ["serve", "--model", "some/folder"])
    assert result.exit_code == 0, result.output
    settings, where = captured[0]
    assert settings == ServerSettings(model="some/folder")
    assert where == {"host": "127.0.0.1", "port": 8000, "ui": False}


def test_options_reach_the_settings_under_their_flags(captured):
    args = ["serve", "-m", "m", "--max-images", "3", "--remote-image-host", "a.example", "--remote-image-host", "*.b.example",
            "--allow-remote-images", "--remote-timeout", "2.5", "--graceful-timeout", "0", "--max-batch-size", "2",
            "--api-key", "k", "--dtype", "bfloat16", "--port", "9", "--ui"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    settings, where = captured[0]
    assert settings == dataclasses.replace(
        ServerSettings(model="m"), max_images_per_request=3, remote_image_hosts=["a.example", "*.b.example"],
        allow_remote_images=True, remote_timeout_s=2.5, graceful_timeout_s=0.0, max_batch_size=2, api_key="k", dtype="bfloat16",
    )
    assert where == {"host": "127.0.0.1", "port": 9, "ui": True}


def test_bounds_come_from_the_settings(captured):
    result = CliRunner().invoke(cli.app, ["serve", "-m", "m", "--max-batch-size", "0"])
    assert result.exit_code == 2 and not captured


def test_web_takes_its_few_options_from_the_same_settings(captured):
    params = {p.name: p for p in get_command(cli.app).commands["web"].params}
    for name in ("model", "api_key", "image_pipeline"):
        assert params[name].help == ServerSettings.__dataclass_fields__[name].metadata["help"]
    result = CliRunner().invoke(cli.app, ["web", "-m", "m", "--api-key", "k"])
    assert result.exit_code == 0, result.output
    settings, where = captured[0]
    assert settings == ServerSettings(model="m", api_key="k")
    assert where == {"host": "127.0.0.1", "port": 7860, "ui": True}
