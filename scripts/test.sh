#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): installs what the tests need
# (Chromium from Debian's packages for the browser test), then formatting, lints, unit,
# integration and browser tests. Set TICKCAST_SKIP_BROWSER=1 to skip the browser test only.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${TICKCAST_SKIP_BROWSER:-0}" != 1 ]; then
  bash scripts/install-test-deps.sh
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
cargo test --workspace --locked
