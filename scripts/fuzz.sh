#!/usr/bin/env bash
# Runs the cargo-fuzz targets of tests/fuzz, each for a bounded time; exits non-zero if any
# target crashed (a panic, a failed invariant, a sanitizer report, a timeout or an OOM).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
#   SECONDS_PER_TARGET  libFuzzer's -max_total_time for each target (default 60)
#   TARGET...           which targets (default: all, as `cargo fuzz list` shows them):
#                       native binance coinbase coinbase_advanced kraken bitstamp auto
#                       container line_framer auth_token http_query
#
# Environment:
#   CARGO_TARGET_DIR  where to build (default target/fuzz); the growing working corpus and the
#                     logs go under it too (fuzz-corpus/<target>, fuzz-logs/<target>.log).
#   FUZZ_SANITIZER    address (default) or none (faster, finds panics only).
#   FUZZ_ARGS         extra libFuzzer flags, e.g. "-max_len=65536 -dict=...".
#
# cargo-fuzz is installed from crates.io if missing. It passes nightly-only flags to rustc
# (-Zsanitizer, sanitizer coverage); on a stable toolchain RUSTC_BOOTSTRAP=1 enables them.
# Targets are built with debug assertions, so an integer overflow is a crash, not a wrap.
#
# Each target starts from its committed seeds (tests/fuzz/corpus/<target>, never written to)
# and from the reproducers of past findings (tests/fuzz/regressions/<target>, if any: a
# reproducer that still fails makes the run fail at once). New inputs libFuzzer finds go to
# the working corpus, crashes to tests/fuzz/artifacts/<target>/ (git-ignored). To replay one:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz -a TARGET tests/fuzz/artifacts/TARGET/crash-...
# tests/fuzz/README.md has the rest: what each target checks, minimizing, reseeding.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
if [ $# -gt 0 ]; then
  seconds=$1
  shift
fi
case "$seconds" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/fuzz}"
sanitizer="${FUZZ_SANITIZER:-address}"
fuzz_dir=tests/fuzz

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
fi

echo "== building ${targets[*]} (sanitizer: $sanitizer)"
cargo fuzz build --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" --debug-assertions

logs="$CARGO_TARGET_DIR/fuzz-logs"
mkdir -p "$logs"
failed=()
summary=()
for target in "${targets[@]}"; do
  work="$CARGO_TARGET_DIR/fuzz-corpus/$target"
  mkdir -p "$work"
  corpora=("$work" "$fuzz_dir/corpus/$target")
  if [ -d "$fuzz_dir/regressions/$target" ]; then
    corpora+=("$fuzz_dir/regressions/$target")
  fi
  log="$logs/$target.log"
  echo "== $target: ${seconds}s (log: $log)"
  status=0
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  cargo fuzz run --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" --debug-assertions \
    "$target" "${corpora[@]}" -- \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
  # A run that crashes at once prints no stats: these stay empty ("?" below).
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -n 1 | cut -d' ' -f2)
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    summary+=("$(printf '%-18s FAILED (exit %s)  runs %s  exec/s %s' "$target" "$status" "${runs:-?}" "${rate:-?}")")
    echo "!! $target failed; the end of its log:"
    tail -n 40 "$log"
  else
    summary+=("$(printf '%-18s ok  %ss  runs %s  exec/s %s  cov %s' "$target" "$seconds" "${runs:-?}" "${rate:-?}" "${cov:-?}")")
  fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "== failed: ${failed[*]} (reproducers in $fuzz_dir/artifacts/)" >&2
  exit 1
fi
