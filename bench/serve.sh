#!/usr/bin/env bash
# The CDS Hooks service under load, on loopback (a benchmark, bounded in time):
#
#   bench/serve.sh [--seconds S] [--rate R] [--bin build/stimrank]
#
# One realistic patient-view call (a vignette patient written as FHIR, 11 resources,
# and 40 Synthea resources the rules do not use: about 37 KB) is sent
#   - at saturation by wrk (Debian `wrk`), to the server on 1 and on 2 request
#     threads, two keep-alive connections per server thread (while one waits for
#     its next request the other keeps the thread busy): requests a second and
#     latency percentiles;
#   - at a fixed rate (default 1,000 a second) by a bounded client of our own
#     (bench/serve_rate.py: keep-alive connections, requests sent on schedule, every
#     latency kept): p50 / p99 / max;
# beside evaluate_fhir in process on the same record (Python binding; one core).
# Results: a table on stdout. Nothing is timed in the tests.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BIN="$ROOT/build/stimrank" SECONDS_EACH=10 RATE=1000
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    *) echo "usage: bench/serve.sh [--seconds S] [--rate R] [--bin PATH]" >&2; exit 2 ;;
  esac
done
command -v wrk > /dev/null || { echo "bench/serve.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
PY=/usr/bin/python3
TMP="$(mktemp -d)"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2> /dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# The request: a vignette patient with ranked options, plus Synthea resources.
PYTHONPATH="$ROOT/tests/python:$ROOT/build/venv/lib/python3.11/site-packages" \
  STIMRANK_CLI="$BIN" $PY - "$ROOT" "$TMP/request.json" "$TMP/bundle.json" <<'PY'
import json, sys, pathlib
root, out, bundle_out = sys.argv[1], sys.argv[2], sys.argv[3]
from test_fhir_vignettes import load_concept_codes, vignettes, write_bundle
name, profile = next((n, p) for n, p in vignettes() if n.startswith("vignettes/"))
bundle, _ = write_bundle(dict(profile, id="bench-patient"), load_concept_codes())
resources = [e["resource"] for e in bundle["entry"]]
synthea = pathlib.Path(root).parent / "shared" / "fhir" / "synthea-10-patients" / "Procedure.ndjson"
if synthea.exists():
    for line in list(open(synthea))[:40]:
        r = json.loads(line)
        r["subject"] = {"reference": "Patient/bench-patient"}
        resources.append(r)
for r in resources:
    for key in ("subject", "patient"):
        if key in r:
            r[key] = {"reference": "Patient/bench-patient"}
keys = {"Patient": "patient", "Condition": "conditions", "Observation": "observations",
        "MedicationRequest": "medicationRequests", "MedicationStatement": "medicationStatements",
        "Device": "devices", "Procedure": "procedures"}
prefetch = {}
for r in resources:
    key = keys[r["resourceType"]]
    if key == "patient":
        prefetch[key] = r
    else:
        prefetch.setdefault(key, {"resourceType": "Bundle", "type": "searchset", "entry": []})["entry"].append({"resource": r})
json.dump({"hook": "patient-view", "hookInstance": "b0d9d1f2-7d10-4d45-9d7c-9a1c2b9e1e01",
           "context": {"userId": "Practitioner/1", "patientId": "bench-patient"}, "prefetch": prefetch},
          open(out, "w"))
json.dump({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]},
          open(bundle_out, "w"))
PY
cat > "$TMP/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$TMP/request.json", "rb")
wrk.body = f:read("*a")
f:close()
EOF

start_server() {  # start_server THREADS
  "$BIN" serve --port 0 --allow-unauthenticated --threads "$1" 2> "$TMP/server.log" &
  SERVER=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\)\/cds-services.*/\1/p' "$TMP/server.log")
    [ -n "$PORT" ] && break
    sleep 0.05
  done
  URL="http://127.0.0.1:$PORT/cds-services/stimrank-patient-view"
  curl -sf -X POST -H 'Content-Type: application/json' --data-binary @"$TMP/request.json" "$URL" \
    | grep -q '"cards":\[{' || { echo "the bench request gets no card" >&2; exit 1; }
}
stop_server() { kill -TERM "$SERVER"; wait "$SERVER" 2> /dev/null || true; SERVER=""; }

echo "CDS Hooks patient-view, $(wc -c < "$TMP/request.json") bytes a request; ${SECONDS_EACH} s a run"
printf '%-40s %10s %9s %9s %9s\n' "run" "req/s" "p50 ms" "p99 ms" "max ms"
for threads in 1 2; do
  start_server "$threads"
  wrk -t"$threads" -c$((threads * 2)) -d"${SECONDS_EACH}s" --latency -s "$TMP/post.lua" "$URL" > "$TMP/wrk.txt"
  rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$TMP/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$TMP/wrk.txt")
  max=$(awk '$1 == "Latency" {print $4}' "$TMP/wrk.txt")
  printf '%-40s %10s %9s %9s %9s\n' "saturation (wrk), $threads server thread(s)" "$rps" "$p50" "$p99" "$max"
  timeout $((SECONDS_EACH * 3 + 30)) $PY "$HERE/serve_rate.py" "$URL" "$TMP/request.json" "$RATE" "$SECONDS_EACH" "$threads" > "$TMP/rate.txt" ||
    echo "  (the fixed-rate run did not finish in time)" > "$TMP/rate.txt"
  printf '%-40s %s\n' "fixed $RATE/s, $threads server thread(s)" "$(cat "$TMP/rate.txt")"
  stop_server
done
PYTHONPATH="$ROOT/build/venv/lib/python3.11/site-packages" $PY - "$TMP/bundle.json" <<'PY'
import json, sys, time, datetime, stimrank
rs = stimrank.load()
bundle = open(sys.argv[1]).read()
as_of = datetime.date.today().isoformat()
n, start = 0, time.perf_counter()
while time.perf_counter() - start < 3:
    rs.evaluate_fhir(bundle, as_of=as_of)
    n += 1
print("%-40s %10.0f" % ("evaluate_fhir in process (Python, 1 core)", n / (time.perf_counter() - start)))
PY
