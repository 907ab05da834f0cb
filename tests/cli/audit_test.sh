#!/usr/bin/env bash
# Audit trail through the CLI: several processes write at once; one edited byte is
# named by `stimrank audit verify`.
set -euo pipefail
BIN="$1"; ROOT="$2"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
PY=/usr/bin/python3
export STIMRANK_AUDIT_KEY="ci-audit-key-0123456789"

$PY -c "
import json
for i in range(60):
    print(json.dumps({'id': 'patient \"%d\"; DROP TABLE audit_log; --' % i, 'conditions': ['postherpetic_neuralgia'], 'devices': []}))
" >"$TMP/profiles.jsonl"

for w in 1 2 3 4; do
  "$BIN" evaluate --audit "$TMP/audit.db" --jsonl "$TMP/profiles.jsonl" >/dev/null &
done
wait
out="$("$BIN" audit verify --db "$TMP/audit.db")"
[ "$out" = "ok: 240 records, chain intact" ] || { echo "FAIL: $out"; exit 1; }

# A key is required, and is never stored.
if env -u STIMRANK_AUDIT_KEY "$BIN" evaluate --audit "$TMP/audit.db" "$ROOT/examples/profiles/phn_focal_elderly.json" >/dev/null 2>&1; then
  echo "FAIL: --audit without a key was accepted"; exit 1
fi
if grep -q "$STIMRANK_AUDIT_KEY" "$TMP/audit.db"; then echo "FAIL: the key is in the database"; exit 1; fi

# Edit one byte of record 17.
$PY - "$TMP/audit.db" <<'PYEDIT'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
(text,) = c.execute("SELECT result_json FROM audit_log WHERE seq = 17").fetchone()
c.execute("UPDATE audit_log SET result_json = ? WHERE seq = 17", (text[:50] + ("X" if text[50] != "X" else "Y") + text[51:],))
c.commit()
PYEDIT
set +e
out="$("$BIN" audit verify --db "$TMP/audit.db" 2>"$TMP/err")"
rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "FAIL: verify exit $rc"; exit 1; }
[ "$out" = "first broken record: 17" ] || { echo "FAIL: $out"; exit 1; }
grep -q "record 17: its content does not match its hash" "$TMP/err" || { echo "FAIL: message"; cat "$TMP/err"; exit 1; }
echo "ok: concurrent writers, tamper detection"
