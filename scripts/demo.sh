#!/usr/bin/env bash
# Installs what is missing, builds, and ranks the options for an example patient
# with the shipped knowledge base.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_packages demo
echo "== building the command line"
configure_and_build "$BUILD" -DSTIMRANK_BUILD_TESTS=OFF -DSTIMRANK_BUILD_BENCHMARKS=OFF

PROFILE="${1:-$ROOT/examples/profiles/phn_focal_elderly.json}"
echo "== checking the knowledge base"
"$BUILD/stimrank" check
echo
echo "== ranking for $(basename "$PROFILE")"
"$BUILD/stimrank" evaluate --format text "$PROFILE"
