#!/usr/bin/env bash
# Installs stimrank into a scratch prefix and builds examples/cpp against the
# installed CMake package, then runs it.
set -euo pipefail
BUILD="$1"; ROOT="$2"; CXX="$3"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
test -f "$WORK/prefix/lib/cmake/stimrank/stimrankConfig.cmake" || test -f "$WORK/prefix/lib/x86_64-linux-gnu/cmake/stimrank/stimrankConfig.cmake"
test -f "$WORK/prefix/share/stimrank/knowledge/neuromodulation.rules"
test -f "$WORK/prefix/share/man/man1/stimrank.1"
test -f "$WORK/prefix/share/bash-completion/completions/stimrank"
# The installed program reads the knowledge base installed beside it, not the source
# tree it was built from (which is still here): the installed copy's version shows.
sed -i 's/^ruleset "neuromodulation-neuropathic-pain" version "[^"]*"/ruleset "neuromodulation-neuropathic-pain" version "9.9.9-installed"/' \
  "$WORK/prefix/share/stimrank/knowledge/neuromodulation.rules"
(cd "$WORK" && env -u STIMRANK_RULES "$WORK/prefix/bin/stimrank" check) | grep -q "9.9.9-installed" ||
  { echo "the installed stimrank does not read its own prefix's knowledge base" >&2; exit 1; }
cmake -S "$ROOT/examples/cpp" -B "$WORK/consumer" -DCMAKE_PREFIX_PATH="$WORK/prefix" \
      -DCMAKE_CXX_COMPILER="$CXX" >/dev/null
cmake --build "$WORK/consumer" -j 2 >/dev/null
out="$("$WORK/consumer/evaluate_threads" "$WORK/prefix/share/stimrank/knowledge" \
       "$ROOT/examples/profiles/phn_focal_elderly.json" 4)"
echo "$out"
echo "$out" | grep -q "4 threads agree" 
echo "$out" | grep -q "^1\. tens_conventional"
