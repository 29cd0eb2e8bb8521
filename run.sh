#!/usr/bin/env bash
# The project's two entry points (see README):
#   ./run.sh          the main job: set-up, then `lmul report` (report folder under build/report)
#   ./run.sh test     set-up, then the whole test suite
# Anything else is passed to the `lmul` CLI: ./run.sh numerics --samples 10000
# Set-up is a virtualenv in .venv (LMUL_VENV overrides), re-installed when pyproject.toml changes, and
# the Debian packages of the ASIC flow (opensta, qflow-tech-osu018, iverilog) when root with apt-get.
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
# The ASIC flow (`lmul energy`, the report's ASIC section, the Icarus cocotb runs) needs three Debian
# packages; installed here when we are root with apt-get, else named once (everything else still works).
debs="opensta qflow-tech-osu018 iverilog"
if ! command -v sta >/dev/null || ! command -v iverilog >/dev/null \
        || [ ! -f /usr/share/qflow/tech/osu018/osu018_stdcells.lib ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "run.sh: installing Debian packages: $debs" >&2
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debs >/dev/null \
            || echo "run.sh: apt-get install $debs failed; the ASIC flow will be skipped" >&2
    else
        echo "run.sh: the ASIC flow needs the Debian packages: $debs (sudo apt-get install $debs); skipped" >&2
    fi
fi
cmd="${1:-report}"
[ $# -gt 0 ] && shift
case "$cmd" in
    test) exec "$venv/bin/python" -m pytest -n auto "$@" ;;
    *)    exec "$venv/bin/python" -m lmul "$cmd" "$@" ;;
esac
