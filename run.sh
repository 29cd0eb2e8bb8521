#!/usr/bin/env bash
# The project's two entry points (see README):
#   ./run.sh          the main job: set-up, then `lmul report` (report folder under build/report)
#   ./run.sh test     set-up, then the whole test suite
# Anything else is passed to the `lmul` CLI: ./run.sh numerics --samples 10000
# Set-up is a virtualenv in .venv (LMUL_VENV overrides), re-installed when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")"
venv="${LMUL_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
    echo "run.sh: creating virtualenv $venv" >&2
    python3 -m venv "$venv"
fi
stamp="$venv/.lmul-installed-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    echo "run.sh: installing the project and its tools into $venv (pip, PyPI only)" >&2
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e ".[test]"
    rm -f "$venv"/.lmul-installed-*
    touch "$stamp"
fi
cmd="${1:-report}"
[ $# -gt 0 ] && shift
case "$cmd" in
    test) exec "$venv/bin/python" -m pytest -n auto "$@" ;;
    *)    exec "$venv/bin/python" -m lmul "$cmd" "$@" ;;
esac
