#!/usr/bin/env bash
# The whole test suite, from a fresh machine: a virtualenv in .venv, pyml with its test extras,
# Chromium + Mesa Vulkan + npm (apt-get when root on Debian/Ubuntu and missing), then pytest over tests/.
# Extra arguments go to pytest instead of `tests`, e.g. `bash scripts/test.sh tests/test_smoke.py -x`.
# It fails when any test fails and when no test ran.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_venv
install_pyml test
ensure_browser
ensure_npm
ensure_runtime_dir
[ $# -gt 0 ] || set -- tests
say "pytest $*"
status=0
"$VENV/bin/python" -m pytest -q --durations=10 "$@" || status=$?
if [ "$status" = 5 ]; then die "no tests ran (pytest exit status 5)"; fi
exit "$status"
