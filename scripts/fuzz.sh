#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang, AddressSanitizer
# and UBSan, the whole library instrumented for coverage, in its own build folder,
# and runs each target from its committed corpus for a bounded number of inputs.
# Prints executions and crashes per target; exits 1 when any target crashed (its
# crashing input is kept under the build folder, named in the output).
#
#   scripts/fuzz.sh                    every target, FUZZ_RUNS inputs each (default 20000)
#   FUZZ_SECONDS=300 scripts/fuzz.sh   every target for 5 minutes instead
#   scripts/fuzz.sh graph_page connstr only these targets
#
# Environment: FUZZ_RUNS, FUZZ_SECONDS, FUZZ_BUILD (build folder, default
# build-fuzz), FUZZ_JOBS (build jobs), CC (default clang).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${FUZZ_RUNS:-20000}
seconds=${FUZZ_SECONDS:-}
build=${FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
cc=${CC:-clang}

if ! command -v "$cc" >/dev/null; then
  echo "fuzz.sh: $cc not found (Debian package clang; scripts/install-deps.sh installs it)" >&2
  exit 2
fi

targets=()
if [ $# -gt 0 ]; then
  for t in "$@"; do targets+=("fuzz_${t#fuzz_}"); done
else
  for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

echo "== build ($build, $cc, libFuzzer + ASan + UBSan)"
cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTA_FUZZ=ON -DTA_SANITIZE=ON -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
cmake --build "$build" -j"$jobs" --target "${targets[@]}" >/dev/null

limit=(-runs="$runs")
what="$runs inputs"
if [ -n "$seconds" ]; then
  limit=(-max_total_time="$seconds")
  what="$seconds s"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

printf '%-22s %12s %8s %8s %8s  %s\n' target executions exec/s seconds crashes result
failed=0
start_all=$(date +%s)
for t in "${targets[@]}"; do
  corpus_src="tests/fuzz/corpus/${t#fuzz_}"
  work="$build/fuzz-work/${t#fuzz_}"
  artifacts="$build/fuzz-artifacts/${t#fuzz_}"
  rm -rf "$work" "$artifacts"
  mkdir -p "$work" "$artifacts"
  # the committed corpus seeds a scratch copy: new inputs never land in git
  [ -d "$corpus_src" ] && cp -r "$corpus_src/." "$work/"
  log="$build/fuzz-artifacts/${t#fuzz_}.log"
  t0=$(date +%s)
  set +e
  "$build/$t" "${limit[@]}" -timeout=20 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" >"$log" 2>&1
  rc=$?
  set -e
  secs=$(($(date +%s) - t0))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  result=ok
  if [ $rc -ne 0 ] || [ "$crashes" -gt 0 ]; then
    result="FAILED (exit $rc; log $log)"
    failed=1
  fi
  printf '%-22s %12s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$secs" "$crashes" "$result"
  if [ $rc -ne 0 ]; then
    grep -m5 -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | sed 's/^/    /' || true
  fi
done
echo "== $((${#targets[@]})) targets, $what each, $(($(date +%s) - start_all)) s in all"
exit $failed
