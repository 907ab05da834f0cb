#!/usr/bin/env bash
# FHIR bulk export → JSON Lines, beside `evaluate --jsonl` on the same patients'
# derived profiles, in patients per second (a benchmark, not a test).
#
#   bench/fhir_bulk.sh [--copies C] [--runs R] [--bin build/stimrank]
#
# The Synthea export of ../shared/fhir/synthea-10-patients (13 patients, 4.3 MB) is
# copied C times (default 40: 520 patients) under new ids, into a temporary folder.
# Each patient's profile is derived once with `from-fhir`; then, R runs each (default
# 5, the median kept), on 1 and 2 threads: `evaluate --fhir-bulk DIR` (index, read,
# map, evaluate) and `evaluate --jsonl PROFILES` (read, evaluate). Results: a table
# on stdout. The difference between the two is the cost of reading FHIR.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BIN="$ROOT/build/stimrank" COPIES=40 RUNS=5 AS_OF=2026-12-01
while [ $# -gt 0 ]; do
  case "$1" in
    --copies) COPIES="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    *) echo "usage: bench/fhir_bulk.sh [--copies C] [--runs R] [--bin PATH]" >&2; exit 2 ;;
  esac
done
SRC="$ROOT/../shared/fhir/synthea-10-patients"
[ -d "$SRC" ] || { echo "$SRC not found" >&2; exit 1; }
PY=/usr/bin/python3
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# C copies of every file, ids and references suffixed with the copy's number.
$PY - "$SRC" "$TMP/bulk" "$TMP/bundles" "$COPIES" <<'PY'
import json, os, re, sys
src, out, bundles, copies = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.makedirs(out); os.makedirs(bundles)
files = {n: [l for l in open(os.path.join(src, n)) if l.strip()] for n in sorted(os.listdir(src)) if n.endswith(".ndjson")}
ids = {json.loads(l)["id"] for l in files["Patient.ndjson"]}
pattern = re.compile("|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)))
per_patient = {}
for name, lines in files.items():
    with open(os.path.join(out, name), "w") as f:
        for c in range(copies):
            for line in lines:
                text = pattern.sub(lambda m: "%s-%d" % (m.group(0), c), line)
                f.write(text if text.endswith("\n") else text + "\n")
                r = json.loads(text)
                pid = r["id"] if name == "Patient.ndjson" else \
                    (r.get("subject") or r.get("patient") or {}).get("reference", "").split("/")[-1]
                per_patient.setdefault(pid, []).append(r)
for k, pid in enumerate(sorted(p for p in per_patient if p.rsplit("-", 1)[0] in ids)):
    resources = sorted(per_patient[pid], key=lambda r: r["resourceType"] != "Patient")
    json.dump({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]},
              open(os.path.join(bundles, "%05d.json" % k), "w"))
PY
for f in "$TMP"/bundles/*.json; do
  "$BIN" from-fhir --as-of "$AS_OF" "$f" 2>/dev/null | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))'
done > "$TMP/profiles.jsonl"
PATIENTS=$(wc -l < "$TMP/profiles.jsonl")
BYTES=$(cat "$TMP"/bulk/*.ndjson | wc -c)

seconds() {  # seconds CMD...: the median wall time of RUNS runs
  local times=()
  for _ in $(seq "$RUNS"); do
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null 2>&1 || true
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
echo "FHIR bulk export: $PATIENTS patients, $((BYTES / 1024)) KiB of NDJSON; median of $RUNS runs"
printf '%-44s %10s %14s\n' "command" "seconds" "patients/s"
for threads in 1 2; do
  for what in fhir jsonl; do
    if [ "$what" = fhir ]; then
      label="evaluate --fhir-bulk (threads $threads)"
      s=$(seconds "$BIN" evaluate --as-of "$AS_OF" --threads "$threads" --fhir-bulk "$TMP/bulk")
    else
      label="evaluate --jsonl, derived profiles (threads $threads)"
      s=$(seconds "$BIN" evaluate --threads "$threads" --jsonl "$TMP/profiles.jsonl")
    fi
    printf '%-44s %10.3f %14.0f\n' "$label" "$s" "$(echo "$PATIENTS / $s" | bc -l)"
  done
done
