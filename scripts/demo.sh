#!/usr/bin/env bash
# The main job, offline: set-up (idempotent), then `minigemini demo` (pass its flags, e.g. --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
exec .venv/bin/minigemini demo "$@"
