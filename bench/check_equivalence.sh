#!/usr/bin/env bash
# The benchmark workload, translated to stimrank rules, gives the reference
# implementation's canonical result file byte for byte (../shared/bench/README.md §1).
#   check_equivalence.sh STIMRANK [OPTIONS=40] [PROFILES=400]
set -euo pipefail
BIN="$1"; K="${2:-40}"; N="${3:-400}"
HERE="$(cd "$(dirname "$0")" && pwd)"
SHARED="$HERE/../../shared/bench"
[ -f "$SHARED/gen_workload.py" ] || { echo "skip: ../shared/bench not found"; exit 0; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 "$SHARED/gen_workload.py" --options "$K" --rules-per-option 8 --profiles "$N" --seed 1 --out "$TMP" >/dev/null
/usr/bin/python3 "$HERE/translate.py" "$TMP/rules.json" "$TMP/bench.rules"
"$BIN" check --rules "$TMP/bench.rules" >/dev/null
"$BIN" evaluate --rules "$TMP/bench.rules" --format tsv --jsonl "$TMP/profiles.jsonl" >"$TMP/stimrank.tsv"
/usr/bin/python3 "$SHARED/reference.py" "$TMP/rules.json" "$TMP/profiles.jsonl" "$TMP/ref.tsv" >/dev/null
if cmp -s "$TMP/stimrank.tsv" "$TMP/ref.tsv"; then
  echo "ok: K=$K, $N profiles, identical to the reference ($(sha256sum <"$TMP/ref.tsv" | cut -c1-16)…)"
else
  echo "FAIL: K=$K differs from the reference"; diff "$TMP/ref.tsv" "$TMP/stimrank.tsv" | head -4; exit 1
fi
