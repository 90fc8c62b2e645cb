#!/usr/bin/env bash
# Create .venv-lmms: lmms-eval 0.7.3 with the minigemini model plugin (never touches .venv).
# Idempotent: a second run only checks. Usage: bash scripts/setup-lmms.sh
# lmms-eval's own requirements pull torchvision/timm (CUDA builds that break this CPU stack), so it is
# installed with --no-deps plus only what its CLI path imports; see docs/evaluation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv-setup.sh
venv_begin .venv-lmms lmms scripts/setup-lmms.sh
$PIP install -q --upgrade pip
# torch: the CPU wheel first, so nothing below pulls a CUDA build (on a GPU machine install yours first).
$VENV/bin/python -c "import torch" 2>/dev/null || $PIP install -q "torch==2.13.0"
$PIP install -q --no-deps "lmms-eval==0.7.3"
# What lmms-eval's CLI path imports; filelock 4.x breaks it (No module named 'filelock._api').
$PIP install -q accelerate datasets evaluate loguru pyyaml jinja2 numpy pytablewriter sacrebleu tenacity \
  "transformers==5.24.*" pillow tqdm openai httpx python-dotenv jsonlines pydantic packaging zstandard sympy einops \
  "filelock<4"
# minigemini itself without its extras (the harness process needs only the model, processor and adapter).
$PIP install -q --no-deps -e .
$PIP install -q "safetensors>=0.4" "tokenizers>=0.20" sentencepiece "typer>=0.12" "rich>=13" "matplotlib>=3.7"
$VENV/bin/python -c "import lmms_eval, minigemini.evaluation.lmms_eval_adapter" >/dev/null
venv_done
