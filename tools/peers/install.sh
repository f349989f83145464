#!/usr/bin/env bash
# Install the real Gearman peers that gearsim's interop tests and probes run
# against, on a Debian bookworm machine, as root. Safe to run again: packages
# that are already installed are not fetched again.
#
#   C gearmand 1.1.20          gearman-job-server  -> /usr/sbin/gearmand
#   gearman CLI, gearadmin     gearman-tools
#   Perl Gearman::Server       gearman-server      -> /usr/bin/gearmand
#   Perl client/worker         libgearman-client-perl
#   PHP client/worker          php-cli, php-gearman
#   capture and decoding       tshark, tcpdump
#   the HTML report test       chromium (driven by PyPI playwright, no browser download)
#   python gear.Server         PyPI gear 0.16.0    -> geard
#
# No system gearmand is ever started: for the whole apt run a policy-rc.d that
# exits 101 is in place (an existing one that already forbids starts is kept;
# otherwise a temporary one is put there and removed afterwards, and any
# policy-rc.d it replaced is put back).
#
# Environment:
#   PYTHON       the interpreter whose pip installs gear (default: python3)
#   GEAR_VERSION the gear version to install (default: 0.16.0)
set -euo pipefail

readonly PACKAGES=(
  gearman-job-server gearman-tools gearman-server libgearman-client-perl
  php-cli php-gearman tshark tcpdump chromium
)
readonly POLICY=/usr/sbin/policy-rc.d
readonly SAVED_POLICY=/usr/sbin/policy-rc.d.gearsim-saved
PYTHON=${PYTHON:-python3}
GEAR_VERSION=${GEAR_VERSION:-0.16.0}

die() {
  echo "install.sh: error: $*" >&2
  exit 1
}

log() {
  echo "install.sh: $*"
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it runs apt-get install)"
command -v apt-get >/dev/null || die "apt-get not found: this installer is for Debian bookworm"
command -v dpkg-query >/dev/null || die "dpkg-query not found: this installer is for Debian bookworm"

# --- policy-rc.d: forbid service starts while packages are configured ---

created_policy=0
moved_policy=0

restore_policy() {
  if [ "$created_policy" -eq 1 ]; then
    rm -f "$POLICY" || echo "install.sh: warning: could not remove temporary $POLICY" >&2
    created_policy=0
  fi
  if [ "$moved_policy" -eq 1 ]; then
    mv -f "$SAVED_POLICY" "$POLICY" || echo "install.sh: warning: could not restore $POLICY from $SAVED_POLICY" >&2
    moved_policy=0
  fi
}
trap restore_policy EXIT
trap 'exit 130' INT TERM

policy_forbids_start() {
  # invoke-rc.d treats exit status 101 as "action forbidden".
  local rc=0
  [ -x "$POLICY" ] || return 1
  "$POLICY" gearman-job-server start >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 101 ]
}

install_policy() {
  if policy_forbids_start; then
    log "$POLICY already forbids service starts; keeping it"
    return
  fi
  if [ -e "$POLICY" ]; then
    [ ! -e "$SAVED_POLICY" ] || die "$SAVED_POLICY exists (left over from an interrupted run?): restore it by hand first"
    mv "$POLICY" "$SAVED_POLICY" || die "could not move $POLICY aside"
    moved_policy=1
    log "moved $POLICY aside (it does not forbid service starts)"
  fi
  printf '#!/bin/sh\n# temporary, from gearsim tools/peers/install.sh: forbid service starts\nexit 101\n' >"$POLICY" ||
    die "could not write $POLICY"
  created_policy=1
  chmod 0755 "$POLICY" || die "could not chmod $POLICY"
  log "installed a temporary $POLICY that forbids service starts"
}

# --- apt packages ---

missing_packages() {
  local pkg status
  for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "installed" ] || echo "$pkg"
  done
}

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -eq 0 ]; then
  log "apt packages already installed: ${PACKAGES[*]}"
else
  log "apt packages to install: ${missing[*]}"
  install_policy
  export DEBIAN_FRONTEND=noninteractive
  # Wireshark asks whether non-root users may capture; the answer is no.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections ||
    die "debconf-set-selections failed"
  apt-get -o DPkg::Lock::Timeout=600 update || die "apt-get update failed"
  apt-get -o DPkg::Lock::Timeout=600 install -y "${PACKAGES[@]}" || die "apt-get install failed"
  restore_policy
  mapfile -t missing < <(missing_packages)
  [ "${#missing[@]}" -eq 0 ] || die "still not installed after apt-get install: ${missing[*]}"
fi

for path in /usr/sbin/gearmand /usr/bin/gearmand /usr/bin/gearadmin /usr/bin/tshark; do
  [ -x "$path" ] || die "$path is missing although its package is installed"
done

# --- python gear (geard) ---

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON to the interpreter that runs gearsim)"
have_gear=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("gear"))' 2>/dev/null || true)
if [ "$have_gear" = "$GEAR_VERSION" ]; then
  log "gear $GEAR_VERSION already installed for $PYTHON"
else
  log "installing gear==$GEAR_VERSION for $PYTHON (found: ${have_gear:-none})"
  "$PYTHON" -m pip install --disable-pip-version-check "gear==$GEAR_VERSION" ||
    die "pip install gear==$GEAR_VERSION failed for $PYTHON (a Debian system python needs a venv: set PYTHON to the venv's python)"
fi
geard=$("$PYTHON" -c 'import os, sys; print(os.path.join(os.path.dirname(sys.executable), "geard"))')
[ -x "$geard" ] || command -v geard >/dev/null || die "geard not found next to $PYTHON or on PATH after installing gear"

log "done: /usr/sbin/gearmand (C), /usr/bin/gearmand (Perl), $geard (gear)"
