#!/usr/bin/env bash
# The commands the shared harness runs for stimrank (bench.py --custom): translate
# the workload's rules.json once, then run stimrank on it.
#   stimrank_peer.sh inproc RULES.json PROFILES.jsonl LIMIT OUT.tsv STATS.json [driver args…]
#       the in-process driver (build/stimrank_bench), e.g. --threads 2, --preloaded
#   stimrank_peer.sh cli RULES.json PROFILES.jsonl LIMIT OUT.tsv STATS.json THREADS
#       the whole `stimrank evaluate --format tsv --jsonl` process, timed from outside
#       (its stats report the process's wall time as the evaluation time)
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
    "$BUILD/stimrank" evaluate --rules "$TRANSLATED" --format tsv --threads "$THREADS" --jsonl "$INPUT" > "$OUT"
    END=$(date +%s.%N)
    /usr/bin/python3 - "$STATS" "$START" "$END" "$LIMIT" "$THREADS" <<'PY'
import json, sys
stats, start, end, limit, threads = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
wall = end - start
json.dump({"engine": "stimrank evaluate --jsonl, whole process" + (", %d threads" % threads if threads > 1 else ""),
           "version": "0.1.0", "clock": "wall", "profiles": limit, "threads": threads, "load_s": 0.0,
           "eval_s": wall, "steady_profiles": limit, "steady_s": wall}, open(stats, "w"))
PY
    ;;
  *) echo "usage: stimrank_peer.sh inproc|cli RULES PROFILES LIMIT OUT STATS [args]" >&2; exit 2 ;;
esac
