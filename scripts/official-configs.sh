#!/usr/bin/env bash
# Regenerate tests/official/configs/*.json with the transformers versions that wrote the official checkpoints
# (4.36.2 for Llama/Mixtral-based MGM, 4.38.2 for MGM-2B/Gemma). Each gets its own throwaway venv; no torch needed.
set -euo pipefail
cd "$(dirname "$0")/.."
for spec in "4.36.2 vicuna llama3 yi mixtral" "4.38.2 gemma"; do
    set -- $spec
    version=$1; shift
    venv="${TMPDIR:-/tmp}/minigemini-transformers-$version"
    [ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q "transformers==$version"; }
    "$venv/bin/python" scripts/official_configs.py "$@"
done
