#!/usr/bin/env bash
# Many threads on one rule set through the CLI: JSON Lines and a FHIR bulk export
# on 8 threads answer exactly as on 1 (run in the release build and under TSan).
set -uo pipefail
BIN="$1"
ROOT="$2"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
PY=/usr/bin/python3
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

$PY - "$ROOT" "$TMP/profiles.jsonl" <<'PY'
import json, os, sys
root, out = sys.argv[1], sys.argv[2]
base = [json.load(open(os.path.join(root, "examples/profiles", n)))
        for n in sorted(os.listdir(os.path.join(root, "examples/profiles"))) if n.endswith(".json")]
with open(out, "w") as f:
    for i in range(3000):
        p = dict(base[i % len(base)], id="p%d" % i)
        if i % 7 == 0:
            p["age"] = "old"          # an invalid line now and then
        f.write(json.dumps(p) + "\n")
PY
"$BIN" evaluate --threads 1 --jsonl "$TMP/profiles.jsonl" > "$TMP/one.jsonl" 2> /dev/null
"$BIN" evaluate --threads 8 --jsonl "$TMP/profiles.jsonl" > "$TMP/eight.jsonl" 2> "$TMP/err"
[ "$(wc -l < "$TMP/eight.jsonl")" -eq 3000 ] || fail "--jsonl --threads 8: $(wc -l < "$TMP/eight.jsonl") lines for 3000 profiles"
cmp -s "$TMP/one.jsonl" "$TMP/eight.jsonl" || fail "--jsonl on 8 threads differs from 1 thread"
"$BIN" evaluate --threads 8 --format tsv --jsonl "$TMP/profiles.jsonl" > "$TMP/eight.tsv" 2> /dev/null
"$BIN" evaluate --threads 1 --format tsv --jsonl "$TMP/profiles.jsonl" > "$TMP/one.tsv" 2> /dev/null
cmp -s "$TMP/one.tsv" "$TMP/eight.tsv" || fail "--format tsv on 8 threads differs from 1 thread"

SHARED="$ROOT/../shared/fhir/synthea-10-patients"
if [ -d "$SHARED" ]; then
  "$BIN" evaluate --as-of 2026-12-01 --threads 1 --fhir-bulk "$SHARED" > "$TMP/bulk1.jsonl" 2> /dev/null
  "$BIN" evaluate --as-of 2026-12-01 --threads 8 --fhir-bulk "$SHARED" > "$TMP/bulk8.jsonl" 2> /dev/null
  [ -s "$TMP/bulk8.jsonl" ] || fail "--fhir-bulk --threads 8 answered nothing"
  cmp -s "$TMP/bulk1.jsonl" "$TMP/bulk8.jsonl" || fail "--fhir-bulk on 8 threads differs from 1 thread"
fi

if [ "$failures" -ne 0 ]; then echo "$failures thread check(s) failed"; exit 1; fi
echo "all thread checks passed"
