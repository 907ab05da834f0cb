#!/usr/bin/env bash
# Runs stimrank side by side with the peer engines of ../shared/bench on the same
# generated workloads (K=40 and K=400), verified against the reference.
#   bench/peers.sh [--profiles N] [--profiles400 N] [--seed S] [--runs R] [--quick] --out DIR
# The shared harness is copied into DIR (../shared is read-only); its table is printed
# and written to DIR/harness/results*/results.md.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$HERE/.."
OUT="" ; N=100000 ; N400=10000 ; SEED=1 ; RUNS=3 ; QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2;;
    --profiles) N="$2"; shift 2;;
    --profiles400) N400="$2"; shift 2;;
    --seed) SEED="$2"; shift 2;;
    --runs) RUNS="$2"; shift 2;;
    --quick) QUICK=1; shift;;
    --options|--rules-per-option) echo "note: the harness runs K=40 and K=400 with 8 rules per option"; shift 2;;
    *) echo "unknown argument $1"; exit 2;;
  esac
done
[ -n "$OUT" ] || { echo "usage: bench/peers.sh [--profiles N] [--quick] --out DIR"; exit 2; }
SHARED="$ROOT/../shared/bench"
[ -f "$SHARED/run_all.sh" ] || { echo "../shared/bench not found"; exit 1; }
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release -DSTIMRANK_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$ROOT/build" --target stimrank_bench -j "$(nproc)" >/dev/null
mkdir -p "$OUT/harness"
rsync -a --exclude node_modules --exclude work --exclude 'results*' "$SHARED/" "$OUT/harness/" 2>/dev/null \
  || cp -r "$SHARED/." "$OUT/harness/"
cd "$OUT/harness"
export STIMRANK_BUILD_DIR="$ROOT/build"
CUSTOM_PEERS="stimrank=bash $HERE/stimrank_peer.sh {rules} {profiles} {limit} {out} {stats}" \
  QUICK="$QUICK" RUNS="$RUNS" N="$N" N400="$N400" SEED="$SEED" ./run_all.sh
