#!/usr/bin/env bash
# A demo, from a fresh machine: a virtualenv in .venv, pyml with its demo extras, then `pyml demo NAME`
# (digits by default: train on scikit-learn's digits, export, serve on http://127.0.0.1:8000/; or textgen).
# Extra arguments go to `pyml demo`, e.g. `bash scripts/demo.sh --port 8080 --epochs 40` or
# `bash scripts/demo.sh textgen --epochs 5`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
demo=digits
if [[ $# -gt 0 && $1 != -* ]]; then demo=$1; shift; fi
ensure_venv
install_pyml demos
exec "$VENV/bin/pyml" demo "$demo" "$@"
