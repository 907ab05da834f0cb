#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the release build's
# unit, golden, CLI and install tests, then the tests again under ASan+UBSan.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_packages

echo "== release build"
configure_and_build "$BUILD" -DSTIMRANK_BUILD_TESTS=ON
echo "== tests (release)"
ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS"

if [ "${STIMRANK_SKIP_SANITIZERS:-0}" != "1" ]; then
  echo "== sanitizer build (address, undefined)"
  configure_and_build "$ROOT/build-asan" -DSTIMRANK_BUILD_TESTS=ON -DSTIMRANK_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
  echo "== tests (address, undefined)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$ROOT/build-asan" --output-on-failure -j "$JOBS"
fi
echo "== all tests passed"
