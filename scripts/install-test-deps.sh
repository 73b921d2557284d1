#!/usr/bin/env bash
# Installs what the browser end-to-end test (tests/browser.rs) needs: Debian's Chromium and
# ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver). Idempotent: does nothing when both are
# already present. Needs root (or passwordless sudo) and access to Debian's package mirrors.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

die() {
    echo "install-test-deps: error: $*" >&2
    exit 1
}

if [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]]; then
    echo "install-test-deps: chromium and chromedriver already installed"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install Debian packages 'chromium' and 'chromium-driver' by hand"

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
echo "install-test-deps: installing chromium and chromium-driver (apt-get)..."
run_quiet "apt-get update" "${SUDO[@]}" apt-get update -q
run_quiet "apt-get install chromium chromium-driver" \
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium chromium-driver

[[ -x "$CHROMIUM" ]] || die "$CHROMIUM is still missing after installing package 'chromium'"
[[ -x "$CHROMEDRIVER" ]] || die "$CHROMEDRIVER is still missing after installing package 'chromium-driver'"

echo "install-test-deps: ok: $("$CHROMIUM" --version 2>/dev/null || echo chromium), $("$CHROMEDRIVER" --version 2>/dev/null | head -n1 || echo chromedriver)"
