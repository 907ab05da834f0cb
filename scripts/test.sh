#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the release build's
# unit, golden, CLI and install tests, then the tests again under ASan+UBSan.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_packages

echo "== release build"
configure_and_build "$BUILD" -DSTIMRANK_BUILD_TESTS=ON -DSTIMRANK_BUILD_PYTHON=ON
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
  echo "== sanitizer build (address, undefined)"
  configure_and_build "$ROOT/build-asan" -DSTIMRANK_BUILD_TESTS=ON -DSTIMRANK_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
  echo "== tests (address, undefined)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$ROOT/build-asan" --output-on-failure --no-tests=error -j "$JOBS"
fi
echo "== all tests passed"
