#!/usr/bin/env bash
# The test command from the README: set-up (idempotent) then the whole suite.
# .venv is the project's; .venv-lmms and .venv-vllm hold lmms-eval and vLLM (their pins clash with .venv's),
# for the slow tests that run the real harness and the real engine. Each set-up is a stamp check once done.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-lmms.sh
bash scripts/setup-vllm.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
