#!/usr/bin/env bash
# stimrank beside every peer engine of ../shared/bench, in one run, on one workload
# and on the same workload with 10x the rules.
#
#   bench/peers.sh --options K --rules-per-option R --profiles N --seed S --out DIR
#                  [--profiles-large N2] [--slow N] [--slow-large N] [--runs R]
#                  [--passes P] [--peers LIST] [--quick]
#
# It generates the data with ../shared/bench/gen_workload.py (K options and 10*K
# options, R rules each; N and N2 profiles, seed S), computes the reference result,
# runs the harness's peers (CLIPS, json-rules-engine, Cedar, cel-js, cql-execution,
# plain JS, the Python reference, naive C++) and stimrank's variants through the
# harness's bench.py (each run verified against the reference checksum, under
# /usr/bin/time -v), times `stimrank evaluate --jsonl` with its full JSON results,
# then prints one table and writes DIR/results.json and DIR/results.md.
#
# stimrank's variants run in passes (one run of each variant per pass, P passes, at
# K and at 10*K in turn) so that a slow stretch of the machine falls on 1 and 2
# threads and on both rule counts alike; the table gives each variant's medians
# (bench/merge_passes.py).
# Defaults: N=100000, N2=N/10, R=8, S=1, K=40, 3 runs of each peer, 5 passes. The
# slow peers (json-rules-engine, Cedar, cql-execution, the Python reference) run
# --slow profiles (default 10000) on the first workload and --slow-large (default
# 1000) on the large one, as the harness does; their rates are steady-state rates
# per profile.
# --quick: 2000 / 500 profiles, slow peers 200 / 100, one run (a smoke test).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OUT="" K=40 R=8 N=100000 N2="" SEED=1 RUNS=3 PASSES=5 SLOW=10000 SLOW2=1000 QUICK=0
PEERS="clips,clips-match,jre,cedar,cel,cql,plainjs,reference"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --options) K="$2"; shift 2 ;;
    --rules-per-option) R="$2"; shift 2 ;;
    --profiles) N="$2"; shift 2 ;;
    --profiles-large) N2="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --passes) PASSES="$2"; shift 2 ;;
    --slow) SLOW="$2"; shift 2 ;;
    --slow-large) SLOW2="$2"; shift 2 ;;
    --peers) PEERS="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "peers.sh: unknown argument \`$1\` (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$OUT" ] || { echo "peers.sh: --out DIR is required (see --help)" >&2; exit 2; }
if [ "$QUICK" = 1 ]; then N=2000; N2=500; SLOW=200; SLOW2=100; RUNS=1; PASSES=1; fi
[ -n "$N2" ] || N2=$(( N / 10 > 0 ? N / 10 : 1 ))
K2=$(( K * 10 ))
SHARED="$ROOT/../shared/bench"
[ -f "$SHARED/gen_workload.py" ] || { echo "peers.sh: $SHARED not found" >&2; exit 1; }
PY=/usr/bin/python3
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
log() { printf '\n== %s\n' "$*"; }

log "building stimrank (release)"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release -DSTIMRANK_BUILD_BENCHMARKS=ON \
  -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
cmake --build "$ROOT/build" --target stimrank_cli stimrank_bench -j "$(nproc)" >/dev/null

log "harness: a copy of ../shared/bench in $OUT/harness (../shared is read-only)"
mkdir -p "$OUT/harness"
(cd "$SHARED" && tar --exclude=./node_modules --exclude=./work --exclude='./results*' -cf - .) \
  | (cd "$OUT/harness" && tar -xf -)
HARNESS="$OUT/harness"
need_apt=()
command -v clips >/dev/null || need_apt+=(clips)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v node >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
# Reuse an earlier run's node_modules when there is one; npm install otherwise.
if [ ! -d "$HARNESS/node_modules" ] && [ -d "$SHARED/node_modules" ]; then
  cp -r "$SHARED/node_modules" "$HARNESS/"
fi
for p in json-rules-engine @cedar-policy/cedar-wasm @marcbachmann/cel-js cql-execution; do
  if [ ! -f "$HARNESS/node_modules/$p/package.json" ]; then
    log "installing the npm peers (package-lock.json)"
    (cd "$HARNESS" && npm install --no-audit --no-fund --loglevel=error)
    break
  fi
done
"$HARNESS/examples/cpp_naive/build.sh" >/dev/null

gen() {  # gen K PROFILES DIR
  local dir="$3"
  if [ -f "$dir/ref.tsv.sha256" ] && "$PY" -c "import json,sys; m=json.load(open('$dir/manifest.json')); sys.exit(0 if (m['options'],m['rules_per_option'],m['profiles'],m['seed'])==($1,$R,$2,$SEED) else 1)" 2>/dev/null; then
    echo "workload $dir up to date"
    return
  fi
  rm -rf "$dir"
  "$PY" "$HARNESS/gen_workload.py" --options "$1" --rules-per-option "$R" --profiles "$2" --seed "$SEED" --out "$dir" >/dev/null
  "$PY" "$HARNESS/reference.py" "$dir/rules.json" "$dir/profiles.jsonl" "$dir/ref.tsv" --stats "$dir/ref.stats.json" >/dev/null
  (cd "$dir" && sha256sum ref.tsv > ref.tsv.sha256)
}
SMALL="$OUT/work/k${K}_r${R}_n${N}_s${SEED}"
LARGE="$OUT/work/k${K2}_r${R}_n${N2}_s${SEED}"
log "workloads: K=$K and K=$K2, R=$R, seed $SEED ($N and $N2 profiles)"
gen "$K" "$N" "$SMALL"
gen "$K2" "$N2" "$LARGE"

PEER="bash $HERE/stimrank_peer.sh"
CUSTOM=(
  --custom "naive-cpp=$HARNESS/work/bin/naive --rules {rules} --profiles {profiles} --limit {limit} --out {out} --stats {stats}"
  --custom "stimrank=$PEER inproc {rules} {profiles} {limit} {out} {stats} --threads 1"
  --custom "stimrank-2t=$PEER inproc {rules} {profiles} {limit} {out} {stats} --threads 2"
  --custom "stimrank-preloaded=$PEER inproc {rules} {profiles} {limit} {out} {stats} --threads 1 --preloaded"
  --custom "stimrank-preloaded-2t=$PEER inproc {rules} {profiles} {limit} {out} {stats} --threads 2 --preloaded"
  --custom "stimrank-cli=$PEER cli {rules} {profiles} {limit} {out} {stats} 1"
  --custom "stimrank-cli-2t=$PEER cli {rules} {profiles} {limit} {out} {stats} 2"
)
STIMRANK_NAMES="stimrank,stimrank-2t,stimrank-preloaded,stimrank-preloaded-2t,stimrank-cli,stimrank-cli-2t"
RESULTS="$OUT/results"
rm -rf "$RESULTS/small" "$RESULTS/large" "$RESULTS"/pass*
export STIMRANK_BUILD_DIR="$ROOT/build"
# The peers run their runs one after another, as the harness does. stimrank's
# variants run in passes, one run of each per pass, so that a slow stretch of this
# kind of VM (they last a minute or more) falls on 1 and 2 threads alike instead
# of on every run of one of them; merge_passes.py takes each variant's medians.
# The passes at K and at 10·K alternate (K, 10·K, K, …) for the same reason: the
# growth of cost with the rules divides a rate at 10·K by one at K, and measured
# ten minutes apart (after the peers at 10·K) the two fell in different stretches
# (at K=400 all three passes 40% slow, 11.5× where the same binary gave 7.7×).
run_peers() {  # run_peers NAME DIR PROFILES SLOW
  local limits=()
  for p in jre cedar cql reference; do limits+=(--limit "$p=$4"); done
  "$PY" "$HARNESS/bench.py" run --results "$RESULTS" --workload "$2" --ref "$2/ref.tsv" --scale "$1" \
    --runs "$RUNS" --default-limit "$3" --target "$3" "${limits[@]}" \
    --peers "$PEERS,naive-cpp" "${CUSTOM[@]}"
}
run_pass() {  # run_pass PASS NAME DIR PROFILES
  "$PY" "$HARNESS/bench.py" run --results "$RESULTS/pass$1" --workload "$3" --ref "$3/ref.tsv" \
    --scale "$2" --runs 1 --default-limit "$4" --target "$4" --peers "$STIMRANK_NAMES" "${CUSTOM[@]}"
}
log "peers at K=$K ($N profiles)"
run_peers small "$SMALL" "$N" "$SLOW"
log "peers at K=$K2 ($N2 profiles)"
run_peers large "$LARGE" "$N2" "$SLOW2"
log "stimrank's variants: $PASSES passes, K=$K and K=$K2 in turn"
for pass in $(seq 1 "$PASSES"); do
  run_pass "$pass" small "$SMALL" "$N"
  run_pass "$pass" large "$LARGE" "$N2"
done
for scale in small large; do
  "$PY" "$HERE/merge_passes.py" --results "$RESULTS" --scale "$scale" --passes "$PASSES" \
    --peers "$STIMRANK_NAMES"
done

# `stimrank evaluate --jsonl` with its full explained JSON: the process timed from
# outside and, through its --stats, the part after the rules were ready; the result
# file written to disk, its lines checked against the reference.
log "stimrank evaluate --jsonl with full JSON results"
json_runs="$RESULTS/json_runs.jsonl"
: > "$json_runs"
for scale in small large; do
  dir="$SMALL"; count="$N"
  [ "$scale" = large ] && { dir="$LARGE"; count="$N2"; }
  translated="$dir/rules.stimrank.rules"
  [ -f "$translated" ] || "$PY" "$HERE/translate.py" "$dir/rules.json" "$translated"
  for run in $(seq 1 "$RUNS"); do  # 1 and 2 threads in turn, as above
    for threads in 1 2; do
      out="$RESULTS/$scale/stimrank-json.out.jsonl"
      /usr/bin/time -v -o "$RESULTS/$scale/stimrank-json.t$threads.run$run.time.txt" \
        "$ROOT/build/stimrank" evaluate --rules "$translated" --format json --threads "$threads" \
        --stats "$RESULTS/$scale/stimrank-json.t$threads.run$run.stats.json" \
        --jsonl "$dir/profiles.jsonl" > "$out"
      check=$("$PY" "$HERE/json_check.py" "$out" "$dir/ref.tsv" --lines 2000 && echo ok || echo MISMATCH)
      lines=$(wc -l < "$out")
      bytes=$(stat -c %s "$out")
      "$PY" - "$RESULTS/$scale/stimrank-json.t$threads.run$run.time.txt" "$scale" "$threads" "$count" "$lines" "$bytes" "$check" \
        "$RESULTS/$scale/stimrank-json.t$threads.run$run.stats.json" >> "$json_runs" <<'PY'
import json, re, sys
path, scale, threads, count, lines, size, check, stats = sys.argv[1:]
evaluate_s = json.load(open(stats))["evaluate_s"]
text = open(path).read()
def grab(pattern):
    m = re.search(pattern, text)
    return m.group(1) if m else None
wall = grab(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)")
parts = [float(x) for x in wall.split(":")]
seconds = parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) > 2 else 0)
print(json.dumps({"scale": scale, "threads": int(threads), "profiles": int(count), "lines": int(lines),
                  "bytes": int(size), "wall_s": seconds, "evaluate_s": evaluate_s, "max_rss_kb": int(grab(r"Maximum resident set size \(kbytes\): (\d+)")),
                  "checked": check.strip().endswith("ok")}))
PY
      rm -f "$out"
    done
  done
done

log "table"
"$PY" "$HERE/report.py" --out "$OUT" --small "$SMALL" --large "$LARGE" | tee "$OUT/results.md"
