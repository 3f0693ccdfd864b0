#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the unit tests and fuzz
# corpus replays (CTest) in a normal build and under ASan+UBSan, every libFuzzer
# target for a bounded number of inputs, then the end-to-end suites (node:test)
# against Azurite and the sandbox Graph.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh

echo "== build (release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
echo "== unit tests (release)"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== build (asan+ubsan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTA_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== unit tests (asan+ubsan)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== fuzzing, a bounded number of inputs per target (scripts/fuzz.sh)"
FUZZ_RUNS=${FUZZ_RUNS:-5000} scripts/fuzz.sh

echo "== end-to-end tests"
export TA_BIN="$PWD/build/teams-attendance"
export TA_BIN_ASAN="$PWD/build-asan/teams-attendance"
node --test --test-concurrency=1 --test-timeout=600000 tests/e2e/
echo "== container image: build, then a run from it (scripts/image-test.sh)"
scripts/image-test.sh
