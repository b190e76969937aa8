# Shared set-up steps for scripts/demo.sh and scripts/test.sh; source it, don't run it.
#
# Everything here is idempotent and quick on a second run: the virtualenv is reused while it works,
# pip runs only when pyproject.toml (or the checkout's path) changed since the last install, and system
# packages are installed only when missing. Knobs: PYML_PYTHON (interpreter, 3.11+), PYML_VENV
# (default .venv), PYML_CHROMIUM (a Chromium binary to use instead of installing one).

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${PYML_VENV:-.venv}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive
_APT_UPDATED=""

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through passwordless sudo otherwise.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

can_apt() { command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; }; }

apt_install() {
  say "apt-get install $*"
  if [ -z "$_APT_UPDATED" ]; then as_root apt-get update -qq; _APT_UPDATED=1; fi
  as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The first interpreter that is Python 3.11 or newer.
find_python() {
  local candidate
  for candidate in ${PYML_PYTHON:-} python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  die "pyml needs Python 3.11 or newer (set PYML_PYTHON to its path)"
}

# Create $VENV (or reuse it if its pip works). Debian splits venv/ensurepip into python3-venv: install it when root.
ensure_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then return 0; fi
  local python; python="$(find_python)"
  rm -rf "$VENV"
  if ! "$python" -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    local version; version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    can_apt || die "$python cannot create a virtualenv: install python3-venv (or python$version-venv)"
    apt_install python3-venv || apt_install "python$version-venv"
    "$python" -m venv "$VENV" || die "$python -m venv $VENV failed"
  fi
  say "created $VENV with $("$VENV/bin/python" --version)"
}

# pip install -e ".[EXTRAS]" unless the same pyproject.toml was already installed from this checkout.
install_pyml() {
  local extras="$1" stamp="$VENV/.pyml-installed-$1" key
  key="$(cat pyproject.toml; pwd)"
  key="$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then return 0; fi
  say "pip install -e '.[$extras]' into $VENV (first run downloads the dependencies)"
  "$VENV/bin/python" -m pip install -q -e ".[$extras]"
  printf '%s' "$key" > "$stamp"
}

has_chromium() {
  [ -n "${PYML_CHROMIUM:-}" ] && return 0
  command -v chromium >/dev/null || [ -x /usr/bin/chromium ]
}

has_lavapipe() { compgen -G '/usr/share/vulkan/icd.d/lvp_icd*.json' >/dev/null; }

# Playwright's bundled Node driver links libatomic.so.1, which minimal Debian images lack.
has_libatomic() { compgen -G '/usr/lib/*/libatomic.so.1' >/dev/null || compgen -G '/usr/lib*/libatomic.so.1' >/dev/null; }

# Chromium for the browser tests and Mesa's Vulkan (lavapipe) for native WebGPU tests: from apt when
# missing and we can be root on Debian/Ubuntu; otherwise PYML_CHROMIUM, then Playwright's own Chromium.
ensure_browser() {
  if [ -n "${PYML_CHROMIUM:-}" ] && [ ! -x "$PYML_CHROMIUM" ]; then die "PYML_CHROMIUM=$PYML_CHROMIUM is not an executable"; fi
  local packages=() distro=""
  [ -r /etc/os-release ] && distro="$(. /etc/os-release; echo "${ID:-}")"
  # Ubuntu's apt "chromium" is a snap shim that does not run in containers: Playwright's build serves there.
  if ! has_chromium && [ "$distro" != ubuntu ]; then packages+=(chromium fonts-liberation); fi
  if ! has_lavapipe; then packages+=(mesa-vulkan-drivers libvulkan1); fi
  if ! has_libatomic; then packages+=(libatomic1); fi
  if [ ${#packages[@]} -gt 0 ] && can_apt; then apt_install "${packages[@]}"; fi
  if ! has_chromium; then
    say "no system Chromium: installing Playwright's"
    if can_apt; then "$VENV/bin/python" -m playwright install --with-deps chromium
    else "$VENV/bin/python" -m playwright install chromium
    fi
  fi
  has_lavapipe || say "warning: no Mesa Vulkan driver (lavapipe): native WebGPU tests will fail; install mesa-vulkan-drivers"
  has_libatomic || say "warning: no libatomic.so.1: Playwright's driver will not start and browser tests will fail; install libatomic1"
}

# Chromium and wgpu want a private runtime dir; headless CI machines often have none.
ensure_runtime_dir() {
  if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then
    export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/pyml-runtime-$(id -u)"
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
  fi
}
