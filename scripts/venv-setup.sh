# Sourced by scripts/setup-<tool>.sh: a venv of its own for a tool whose pins clash with .venv's.
#   venv_begin VENV NAME SCRIPT  creates VENV if missing, sets PIP, and exits the caller (status 0) when
#                                VENV's stamp matches pyproject.toml + SCRIPT + this file (nothing changed);
#   venv_done                    records the stamp once the caller's installs succeeded.
venv_begin() {
  VENV=$1
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
  PIP="$VENV/bin/python -m pip"
  VENV_STAMP="$VENV/.minigemini-$2-setup"
  VENV_WANT="$(sha256sum pyproject.toml "$3" scripts/venv-setup.sh | sha256sum | cut -c1-16)"
  if [ -f "$VENV_STAMP" ] && [ "$(cat "$VENV_STAMP")" = "$VENV_WANT" ]; then
    exit 0
  fi
}

venv_done() {
  echo "$VENV_WANT" > "$VENV_STAMP"
}
