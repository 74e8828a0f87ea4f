#!/usr/bin/env bash
# Runs every test from a fresh Debian 12: installs and builds (scripts/setup.sh), runs the whole
# GoogleTest suite on the Release build, then builds the Torch-free libraries (search_space, engine,
# the data readers) with AddressSanitizer + UndefinedBehaviorSanitizer and runs their tests, and fuzzes
# every reader of user input for 30 s each (scripts/fuzz.sh).
#   TINYNAS_SKIP_SANITIZERS=1 scripts/test.sh    skip the sanitizer build
#   TINYNAS_SKIP_FUZZ=1 scripts/test.sh          skip the fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

# The project stands alone: nothing tracked may point at material beside the clone.
outside='\.\./'"shared"
if git rev-parse --git-dir >/dev/null 2>&1 && git grep -nI -e "$outside" -- . ; then
  echo "test.sh: the tracked files above refer to a folder outside the project" >&2
  exit 1
fi

scripts/setup.sh

echo "== tests (Release build)"
ctest --test-dir build --output-on-failure -j "$(nproc)"

if [[ "${TINYNAS_SKIP_SANITIZERS:-0}" != 1 ]]; then
  echo "== tests of the Torch-free libraries (search_space, engine, data readers) under ASan + UBSan"
  cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTINYNAS_TORCH_FREE=ON -DTINYNAS_SANITIZE=ON
  cmake --build build-sanitize -j "$(nproc)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-sanitize --output-on-failure -j "$(nproc)"
fi

if [[ "${TINYNAS_SKIP_FUZZ:-0}" != 1 ]]; then
  echo "== fuzzing every reader of user input under ASan + UBSan (libFuzzer, 30 s per harness)"
  scripts/fuzz.sh 30
fi
