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

# The locks apt and dpkg take (fcntl locks: `flock` cannot see them). PYML_APT_LOCKS replaces the list in tests.
APT_LOCKS="${PYML_APT_LOCKS:-/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock \
/var/cache/apt/archives/lock}"

# "PID FILE" of the first lock in $APT_LOCKS some process holds; status 1 when none is held. Read from
# /proc/locks, which lists every POSIX and flock lock as MAJOR:MINOR:INODE (hex, hex, decimal), so it needs
# neither root nor fuser/lsof.
apt_lock_holder() {
  local lock dev id pid major minor
  [ -r /proc/locks ] || return 1
  for lock in $APT_LOCKS; do
    dev="$(stat -Lc '%d %i' "$lock" 2>/dev/null)" || continue
    set -- $dev
    major=$(( ($1 >> 8 & 0xfff) | ($1 >> 32 & ~0xfff) )) minor=$(( ($1 & 0xff) | ($1 >> 12 & ~0xff) ))
    id="$(printf '%02x:%02x:%s' "$major" "$minor" "$2")"  # st_dev split as glibc's major()/minor() do
    # A waiting lock's line has an extra "->" field, so look for the id in any field; the pid is the field before it.
    pid="$(awk -v id="$id" '{for (i = 2; i <= NF; i++) if ($i == id) {print $(i - 1); exit}}' /proc/locks)"
    if [ -n "$pid" ]; then printf '%s %s\n' "$pid" "$lock"; return 0; fi
  done
  return 1
}

# Wait (at most PYML_APT_LOCK_WAIT seconds, saying so) while another apt/dpkg holds its lock, as the
# unattended upgrades of a freshly booted VM do; running apt-get then would fail at once.
wait_for_apt() {
  local limit="${PYML_APT_LOCK_WAIT:-600}" waited=0 holder pid lock name
  while holder="$(apt_lock_holder)"; do
    read -r pid lock <<<"$holder"
    name="$(cat "/proc/$pid/comm" 2>/dev/null || echo "process")"
    if [ "$waited" -ge "$limit" ]; then
      die "$name (pid $pid) still holds $lock after ${limit}s; wait for it to finish, or raise PYML_APT_LOCK_WAIT"
    fi
    if [ $(( waited % 30 )) = 0 ]; then
      say "waiting for $name (pid $pid) to release $lock (another apt/dpkg is running;" \
          "up to ${limit}s, ${waited}s so far)"
    fi
    sleep 1; waited=$(( waited + 1 ))
  done
}

apt_install() {
  say "apt-get install $*"
  wait_for_apt
  if [ -z "$_APT_UPDATED" ]; then as_root apt-get update -qq; _APT_UPDATED=1; fi
  wait_for_apt
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
    if can_apt; then wait_for_apt; "$VENV/bin/python" -m playwright install --with-deps chromium
    else "$VENV/bin/python" -m playwright install chromium
    fi
  fi
  has_lavapipe || say "warning: no Mesa Vulkan driver (lavapipe): native WebGPU tests will fail; install mesa-vulkan-drivers"
  has_libatomic || say "warning: no libatomic.so.1: Playwright's driver will not start and browser tests will fail; install libatomic1"
}

# npm for tests/test_npm_package.py (`npm pack --dry-run` of web/, the pyml-runtime package): from apt when missing.
ensure_npm() {
  if command -v npm >/dev/null; then return 0; fi
  if can_apt; then apt_install npm; fi
  command -v npm >/dev/null || say "warning: no npm: tests/test_npm_package.py will fail; install Node.js with npm"
}

# Chromium and wgpu want a private runtime dir; headless CI machines often have none.
ensure_runtime_dir() {
  if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then
    export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/pyml-runtime-$(id -u)"
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
  fi
}
