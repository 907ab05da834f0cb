#!/usr/bin/env bash
# Kills a real `stimrank batch` with SIGKILL at random moments, restarts it, and
# checks that the final results equal a clean run's, row for row.
set -euo pipefail
BIN="$1"; ROOT="$2"
N="${STIMRANK_CRASH_PROFILES:-4000}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
PY=/usr/bin/python3

$PY - "$TMP/cohort.db" "$N" <<'PYGEN'
import json, random, sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
conditions = ["postherpetic_neuralgia", "painful_diabetic_neuropathy", "failed_back_surgery_syndrome",
              "crps_type_1", "central_pain_syndrome", "trigeminal_neuralgia", "radiculopathy", "fibromyalgia"]
devices = ["cardiac_pacemaker", "cochlear_implant", "spinal_cord_stimulator"]
c = sqlite3.connect(db)
c.execute("CREATE TABLE profiles (id TEXT PRIMARY KEY, profile TEXT NOT NULL)")
rows = []
for i in range(n):
    p = {"id": f"p{i:06d}", "age": rng.randint(18, 90), "conditions": rng.sample(conditions, rng.randint(1, 2)),
         "devices": rng.sample(devices, rng.randint(0, 1)),
         "pain": {"nrs": rng.randint(3, 10), "distribution": rng.choice(["focal", "multifocal", "widespread"])}}
    if i % 97 == 0:
        p["age"] = "unknown"  # invalid on purpose: recorded with its error
    rows.append((p["id"], json.dumps(p)))
c.executemany("INSERT INTO profiles VALUES (?, ?)", rows)
c.commit()
PYGEN
cp "$TMP/cohort.db" "$TMP/clean.db"

dump() {
  $PY - "$1" <<'PYDUMP'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for row in c.execute("SELECT profile_id, outcome, ruleset_digest, top_option, result_json, error FROM results ORDER BY profile_id"):
    print(repr(row))
PYDUMP
}

"$BIN" batch --db "$TMP/clean.db" --chunk 250 >/dev/null 2>&1
dump "$TMP/clean.db" >"$TMP/clean.txt"

kills=0
for attempt in 1 2 3 4 5 6; do
  "$BIN" batch --db "$TMP/cohort.db" --chunk 250 >/dev/null 2>&1 &
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  [ "$kills" -ge 3 ] && break
done
"$BIN" batch --db "$TMP/cohort.db" --chunk 250 >"$TMP/final.out" 2>&1
dump "$TMP/cohort.db" >"$TMP/killed.txt"

rows=$(wc -l <"$TMP/killed.txt")
[ "$rows" -eq "$N" ] || { echo "FAIL: $rows result rows for $N profiles"; exit 1; }
cmp -s "$TMP/clean.txt" "$TMP/killed.txt" || { echo "FAIL: results differ from a clean run"; diff "$TMP/clean.txt" "$TMP/killed.txt" | head -5; exit 1; }
$PY - "$TMP/cohort.db" "$TMP/clean.db" <<'PYSUM'
import sqlite3, sys
q = "SELECT option, status, profiles, ranked_first FROM batch_summary ORDER BY 1, 2"
a = sqlite3.connect(sys.argv[1]).execute(q).fetchall()
b = sqlite3.connect(sys.argv[2]).execute(q).fetchall()
assert a == b and a, "summary tables differ"
PYSUM
echo "ok: killed $kills times; $N results identical to a clean run"
