#!/usr/bin/env bash
# Installs what the tests need from Debian's packages:
# - redis-server (/usr/bin/redis-server), which the cluster tests (tests/server/cluster.rs) start
#   on a free port of their own;
# - Chromium and ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver) for the browser
#   end-to-end test (tests/browser.rs), unless `--redis-only` is given.
# Idempotent: installs only what is missing, and runs `apt-get update` at most once. Needs root
# (or passwordless sudo) and access to Debian's package mirrors when something is missing.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver
REDIS_SERVER=/usr/bin/redis-server

die() {
    echo "install-test-deps: error: $*" >&2
    exit 1
}

browser=1
case "${1:-}" in
    "") ;;
    --redis-only) browser=0 ;;
    *) die "unknown argument '$1' (usage: install-test-deps.sh [--redis-only])" ;;
esac

# Debian packages to install, with the file each must provide.
packages=()
if [[ ! -x "$REDIS_SERVER" ]]; then
    packages+=(redis-server)
fi
if [[ "$browser" == 1 && ! ( -x "$CHROMIUM" && -x "$CHROMEDRIVER" ) ]]; then
    packages+=(chromium chromium-driver)
fi

if [[ ${#packages[@]} -eq 0 ]]; then
    if [[ "$browser" == 1 ]]; then
        echo "install-test-deps: redis-server, chromium and chromedriver already installed"
    else
        echo "install-test-deps: redis-server already installed"
    fi
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install Debian packages '${packages[*]}' by hand"

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo available) to install packages"
    SUDO=(sudo -n)
fi

LOG="$(mktemp -t install-test-deps.XXXXXX.log)"
trap 'rm -f "$LOG"' EXIT

run_quiet() {
    # Runs a command with its output captured; shows the tail of the log if it fails.
    local what="$1"
    shift
    if ! "$@" >"$LOG" 2>&1; then
        echo "install-test-deps: error: $what failed; last lines of output:" >&2
        tail -n 20 "$LOG" >&2
        exit 1
    fi
}

export DEBIAN_FRONTEND=noninteractive
echo "install-test-deps: installing ${packages[*]} (apt-get)..."
run_quiet "apt-get update" "${SUDO[@]}" apt-get update -q
run_quiet "apt-get install ${packages[*]}" \
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"

[[ -x "$REDIS_SERVER" ]] || die "$REDIS_SERVER is still missing after installing package 'redis-server'"
installed="$("$REDIS_SERVER" --version 2>/dev/null | cut -d' ' -f1-3 || echo redis-server)"
if [[ "$browser" == 1 ]]; then
    [[ -x "$CHROMIUM" ]] || die "$CHROMIUM is still missing after installing package 'chromium'"
    [[ -x "$CHROMEDRIVER" ]] || die "$CHROMEDRIVER is still missing after installing package 'chromium-driver'"
    installed+=", $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
    installed+=", $("$CHROMEDRIVER" --version 2>/dev/null | head -n1 || echo chromedriver)"
fi
echo "install-test-deps: ok: $installed"
