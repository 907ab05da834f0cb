#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the release build's
# unit, golden, CLI and install tests and pytest; then, built with clang, the tests
# again under ASan+UBSan, each fuzz target for a short while, and the threaded tests
# under TSan.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_packages

echo "== release build"
configure_and_build "$BUILD" -DSTIMRANK_BUILD_TESTS=ON -DSTIMRANK_BUILD_PYTHON=ON \
  -DPython3_EXECUTABLE="$PYTHON"
echo "== tests (release)"
ctest --test-dir "$BUILD" --output-on-failure --no-tests=error -j "$JOBS"

echo "== Python package: install into a virtual environment, then pytest"
VENV="$BUILD/venv"
rm -rf "$VENV"
"$PYTHON" -m venv --system-site-packages "$VENV"
(cd "$ROOT" && STIMRANK_CMAKE_BUILD_DIR="$BUILD" "$VENV/bin/pip" install --quiet --no-build-isolation .)
# Run from outside the source tree so that the installed package is the one tested.
(cd "$BUILD" && STIMRANK_CLI="$BUILD/stimrank" "$VENV/bin/python" -m pytest -q "$ROOT/tests/python")

if [ "${STIMRANK_SKIP_SANITIZERS:-0}" != "1" ]; then
  echo "== sanitizer build (clang: address, undefined incl. float-cast-overflow; libFuzzer targets)"
  CC=clang CXX=clang++ configure_and_build "$ROOT/build-asan" -DSTIMRANK_BUILD_TESTS=ON \
    -DSTIMRANK_SANITIZE=ON -DSTIMRANK_FUZZ=ON -DSTIMRANK_BUILD_BENCHMARKS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
  echo "== tests (address, undefined)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$ROOT/build-asan" --output-on-failure --no-tests=error -j "$JOBS"
  echo "== fuzzing, ${STIMRANK_FUZZ_SECONDS:-20} s a target (scripts/fuzz.sh runs longer)"
  STIMRANK_FUZZ_SKIP_BUILD=1 "$ROOT/scripts/fuzz.sh" all "${STIMRANK_FUZZ_SECONDS:-20}"

  echo "== thread sanitizer build (clang)"
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$ROOT/build-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTIMRANK_TSAN=ON -DSTIMRANK_BUILD_TESTS=ON -DSTIMRANK_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$ROOT/build-tsan" -j "$JOBS" --target stimrank_tests stimrank_cli
  echo "== tests (thread): shared rule sets, evaluate_many and JSON Lines on 8 threads,"
  echo "   the FHIR bulk reader on 8 threads, audit writers in threads and in processes"
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  "$ROOT/build-tsan/tests/stimrank_tests" "[threads],[storage],[fastpath]"
  bash "$ROOT/tests/cli/threads_test.sh" "$ROOT/build-tsan/stimrank" "$ROOT"
  bash "$ROOT/tests/cli/audit_test.sh" "$ROOT/build-tsan/stimrank" "$ROOT"
  # The CDS Hooks server under 200 concurrent calls (and the rest of its tests).
  (cd "$BUILD" && STIMRANK_CLI="$ROOT/build-tsan/stimrank" "$VENV/bin/python" -m pytest -q \
    "$ROOT/tests/python/test_serve.py" -k "concurrent or feedback or orders")
  # The language server: its reader thread and main loop through a whole session.
  (cd "$BUILD" && STIMRANK_CLI="$ROOT/build-tsan/stimrank" "$VENV/bin/python" -m pytest -q \
    "$ROOT/tests/python/test_lsp.py")
  unset TSAN_OPTIONS
fi
echo "== all tests passed"
