#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): installs what the tests need
# (redis-server from Debian's packages for the cluster tests, Chromium for the browser test),
# then formatting, lints, unit, integration and browser tests. Set TICKCAST_SKIP_BROWSER=1 to
# skip the browser test only (redis-server is installed all the same).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${TICKCAST_SKIP_BROWSER:-0}" != 1 ]; then
  bash scripts/install-test-deps.sh
else
  bash scripts/install-test-deps.sh --redis-only
fi
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== cargo test"
# Default targets: lib, bins, integration tests and doctests (benches are built by clippy above
# and run by `cargo bench`, see BENCHMARKS.md).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one per binary, the last of which is
# often a doctest run with nothing in it).
passed=$(grep -oE 'test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -oE 'passed; [0-9]+ failed' "$log" | awk '{s += $2} END {print s + 0}')
echo "tests: $passed passed, $failed failed"
exit "$status"
