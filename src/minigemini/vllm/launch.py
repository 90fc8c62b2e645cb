"""`minigemini serve --engine vllm`: our settings as vLLM's OpenAI server command line, then exec it.

Importable without vLLM (it only builds a command line). Where vLLM has a matching knob our limit is passed
on; the rest is refused or listed in docs/serving.md ("vLLM engine"). An official MGM folder is converted
once into the cache (vLLM serves our format).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

DTYPES = {"auto": "auto", "fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
          "fp16": "float16", "float16": "float16"}
BLOCK_ALL_MEDIA_DOMAINS = "remote-images-disabled.invalid"  # RFC 2606: a host name that never resolves
"""vLLM fetches any http(s) image unless `--allowed-media-domains` is set; this one allows none."""


def vllm_python() -> str:
    """The interpreter that has vLLM: this one, else the repository's `.venv-vllm`."""
    spec = importlib.util.find_spec("vllm")
    if spec is not None and spec.origin is not None:  # a regular package, not a folder named vllm on sys.path
        return sys.executable
    for root in (Path(__file__).resolve().parents[3], Path.cwd()):
        candidate = root / ".venv-vllm" / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    raise ValueError("--engine vllm needs vLLM: run `bash scripts/setup-vllm.sh` (CPU) or `pip install vllm` (GPU).")


def servable_folder(model: str) -> str:
    """`model` itself, or for an official MGM folder its `minigemini convert` output, made once and kept in
    `$XDG_CACHE_HOME/minigemini/vllm/<name>-<digest of the folder's files>`."""
    from ..official import is_official_checkpoint

    if not is_official_checkpoint(model):
        return model
    src = Path(model).resolve()
    files = sorted(p for p in src.iterdir() if p.is_file())
    digest = hashlib.sha256(repr([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]).encode())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minigemini" / "vllm"
    dst = cache / f"{src.name}-{digest.hexdigest()[:16]}"
    if not (dst / "config.json").exists():
        from ..convert import convert_official

        print(f"Converting the official checkpoint {src} for vLLM into {dst} (once).", file=sys.stderr)
        partial = dst.with_name(dst.name + ".partial")
        convert_official(src, partial)
        partial.rename(dst)
    return str(dst)


def _servable(settings):
    """`settings` with an official folder replaced by its converted copy (the served name stays the folder's)."""
    return dataclasses.replace(settings, model=servable_folder(settings.model), model_name=settings.served_name)


def vllm_command(settings, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) of vLLM's OpenAI server for these `ServerSettings`."""
    refused = [name for name, on in (("--image-pipeline", settings.image_pipeline),
                                     ("--quantize", settings.quantize != "none")) if on]
    if refused:
        raise ValueError(f"{', '.join(refused)} is not available with --engine vllm.")
    if any(h.startswith("*.") for h in settings.remote_image_hosts):
        raise ValueError("--engine vllm allows exact image hosts only (vLLM's --allowed-media-domains); drop '*.' hosts.")
    if settings.dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}")
    argv = [vllm_python(), "-m", "vllm.entrypoints.openai.api_server", "--model", settings.model,
            "--served-model-name", settings.served_name, "--host", host, "--port", str(port),
            "--dtype", DTYPES[settings.dtype], "--max-num-seqs", str(settings.max_batch_size),
            "--limit-mm-per-prompt", json.dumps({"image": settings.max_images_per_request}),
            "--override-generation-config", json.dumps({"max_new_tokens": settings.default_max_tokens})]
    if settings.max_prompt_tokens is not None:  # vLLM bounds prompt + answer together
        argv += ["--max-model-len", str(settings.max_prompt_tokens + settings.max_tokens_limit)]
    hosts = settings.remote_image_hosts if settings.allow_remote_images else [BLOCK_ALL_MEDIA_DOMAINS]
    argv += ["--allowed-media-domains", *(hosts or [BLOCK_ALL_MEDIA_DOMAINS])]
    env = {"VLLM_MAX_IMAGE_PIXELS": str(settings.max_image_pixels),
           "VLLM_IMAGE_FETCH_TIMEOUT": str(math.ceil(settings.remote_timeout_s))}
    if settings.api_key:
        env["VLLM_API_KEY"] = settings.api_key  # not on the command line, where `ps` would show it
    return argv, env


def exec_vllm_server(settings, host: str, port: int, ui: bool = False) -> None:
    """Replace this process with vLLM's OpenAI server (the plugin loads itself through its entry point)."""
    if ui:
        raise ValueError("--ui is not available with --engine vllm (the web demo runs on our server).")
    argv, env = vllm_command(_servable(settings), host, port)
    os.execve(argv[0], argv, {**os.environ, **env})


@contextmanager
def running_vllm_server(settings, port: int, extra_args: list[str] = (), env: dict[str, str] | None = None,
                        log=subprocess.DEVNULL, timeout_s: float = 600):
    """vLLM's OpenAI server on 127.0.0.1:`port` as a child process (benchmarks, tests); yields its URL once
    `/health` answers, terminates it on exit."""
    argv, extra_env = vllm_command(_servable(settings), "127.0.0.1", port)
    proc = subprocess.Popen([*argv, *extra_args], env={**os.environ, **(env or {}), **extra_env}, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM's server exited with {proc.returncode}: {' '.join(argv)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"vLLM's server did not answer /health within {timeout_s:g} s")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        proc.wait(60)
