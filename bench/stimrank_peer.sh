#!/usr/bin/env bash
# The commands the shared harness runs for stimrank (bench.py --custom): translate
# the workload's rules.json once, then run stimrank on it.
#   stimrank_peer.sh inproc RULES.json PROFILES.jsonl LIMIT OUT.tsv STATS.json [driver args…]
#       the in-process driver (build/stimrank_bench), e.g. --threads 2, --preloaded
#   stimrank_peer.sh cli RULES.json PROFILES.jsonl LIMIT OUT.tsv STATS.json THREADS
#       the whole `stimrank evaluate --format tsv --jsonl` process, timed from outside;
#       as for every other engine, its stats split the time into loading (start-up,
#       reading and compiling the rules: up to the moment the CLI's own --stats says
#       the rules were ready) and evaluating (reading the JSON Lines, evaluating,
#       writing the result file), and keep the process's wall time (process_wall_s)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${STIMRANK_BUILD_DIR:-$HERE/../build}"
MODE="$1"; RULES="$2"; PROFILES="$3"; LIMIT="$4"; OUT="$5"; STATS="$6"; shift 6
TRANSLATED="${RULES%.json}.stimrank.rules"
[ "$TRANSLATED" -nt "$RULES" ] || /usr/bin/python3 "$HERE/translate.py" "$RULES" "$TRANSLATED"
case "$MODE" in
  inproc)
    exec "$BUILD/stimrank_bench" --rules "$TRANSLATED" --profiles "$PROFILES" --limit "$LIMIT" \
      --out "$OUT" --stats "$STATS" "$@" ;;
  cli)
    THREADS="${1:-1}"
    INPUT="$PROFILES"
    if [ "$(wc -l < "$PROFILES")" -gt "$LIMIT" ]; then  # the first LIMIT profiles, cut beforehand
      INPUT="${PROFILES%.jsonl}.first$LIMIT.jsonl"
      [ -f "$INPUT" ] || head -n "$LIMIT" "$PROFILES" > "$INPUT"
    fi
    START=$(date +%s.%N)
    "$BUILD/stimrank" evaluate --rules "$TRANSLATED" --format tsv --threads "$THREADS" \
      --stats "$STATS.cli" --jsonl "$INPUT" > "$OUT"
    END=$(date +%s.%N)
    VERSION=$("$BUILD/stimrank" --version | cut -d' ' -f2)
    /usr/bin/python3 - "$STATS" "$START" "$END" "$LIMIT" "$THREADS" "$VERSION" <<'PY'
import json, sys
stats, start, end, limit, threads = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
version = sys.argv[6]
wall = end - start
evaluate = json.load(open(stats + ".cli"))["evaluate_s"]
json.dump({"engine": "stimrank evaluate --jsonl" + (", %d threads" % threads if threads > 1 else ""),
           "version": version, "clock": "wall", "profiles": limit, "threads": threads,
           "load_s": wall - evaluate, "eval_s": evaluate, "steady_profiles": limit, "steady_s": evaluate,
           "process_wall_s": wall}, open(stats, "w"))
PY
    ;;
  *) echo "usage: stimrank_peer.sh inproc|cli RULES PROFILES LIMIT OUT STATS [args]" >&2; exit 2 ;;
esac
