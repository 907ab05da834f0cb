#!/usr/bin/env bash
# The command the shared harness runs for stimrank (CUSTOM_PEERS): translate the
# workload's rules.json once, then run the in-process driver.
#   stimrank_peer.sh RULES.json PROFILES.jsonl LIMIT OUT.tsv STATS.json
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${STIMRANK_BUILD_DIR:-$HERE/../build}"
RULES="$1"; PROFILES="$2"; LIMIT="$3"; OUT="$4"; STATS="$5"
TRANSLATED="${RULES%.json}.stimrank.rules"
[ "$TRANSLATED" -nt "$RULES" ] || /usr/bin/python3 "$HERE/translate.py" "$RULES" "$TRANSLATED"
exec "$BUILD/stimrank_bench" --rules "$TRANSLATED" --profiles "$PROFILES" --limit "$LIMIT" --out "$OUT" --stats "$STATS"
