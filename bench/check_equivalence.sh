#!/usr/bin/env bash
# The benchmark workload, translated to stimrank rules, gives the reference
# implementation's canonical result file byte for byte (../shared/bench/README.md §1),
# on one thread and on three (the JSON Lines pipeline keeps input order).
#   check_equivalence.sh STIMRANK [OPTIONS=40] [PROFILES=400] [RULES_PER_OPTION=8] [SEED=1]
set -euo pipefail
BIN="$1"; K="${2:-40}"; N="${3:-400}"; R="${4:-8}"; SEED="${5:-1}"
HERE="$(cd "$(dirname "$0")" && pwd)"
SHARED="$HERE/../../shared/bench"
[ -f "$SHARED/gen_workload.py" ] || { echo "skip: ../shared/bench not found"; exit 0; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 "$SHARED/gen_workload.py" --options "$K" --rules-per-option "$R" --profiles "$N" --seed "$SEED" --out "$TMP" >/dev/null
/usr/bin/python3 "$HERE/translate.py" "$TMP/rules.json" "$TMP/bench.rules"
"$BIN" check --rules "$TMP/bench.rules" >/dev/null
"$BIN" evaluate --rules "$TMP/bench.rules" --format tsv --jsonl "$TMP/profiles.jsonl" >"$TMP/stimrank.tsv"
"$BIN" evaluate --rules "$TMP/bench.rules" --format tsv --threads 3 --jsonl "$TMP/profiles.jsonl" >"$TMP/stimrank.t3.tsv"
/usr/bin/python3 "$SHARED/reference.py" "$TMP/rules.json" "$TMP/profiles.jsonl" "$TMP/ref.tsv" >/dev/null
if cmp -s "$TMP/stimrank.tsv" "$TMP/ref.tsv" && cmp -s "$TMP/stimrank.t3.tsv" "$TMP/ref.tsv"; then
  echo "ok: K=$K, R=$R, seed $SEED, $N profiles, 1 and 3 threads identical to the reference ($(sha256sum <"$TMP/ref.tsv" | cut -c1-16)…)"
else
  echo "FAIL: K=$K, R=$R, seed $SEED differs from the reference"
  diff "$TMP/ref.tsv" "$TMP/stimrank.tsv" | head -4
  diff "$TMP/ref.tsv" "$TMP/stimrank.t3.tsv" | head -4
  exit 1
fi
