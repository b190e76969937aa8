#!/usr/bin/env bash
# The digits demo, from a fresh machine: a virtualenv in .venv, pyml with its demo extras, then
# `pyml demo digits` (train on scikit-learn's digits, export, serve on http://127.0.0.1:8000/).
# Extra arguments go to `pyml demo digits`, e.g. `bash scripts/demo.sh --port 8080 --epochs 40`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_venv
install_pyml demos
exec "$VENV/bin/pyml" demo digits "$@"
