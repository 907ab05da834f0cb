#!/usr/bin/env bash
# `stimrank lint` on a rule set with planted flaws must match the golden output;
# on the shipped knowledge base it must find nothing.
set -uo pipefail
BIN="$1"; ROOT="$2"
cd "$ROOT"
actual="$("$BIN" lint --rules tests/golden/lint/flawed.rules 2>&1)"
if [ "${STIMRANK_UPDATE_GOLDEN:-0}" = "1" ]; then printf '%s\n' "$actual" >tests/golden/lint/flawed.expected; fi
diff -u tests/golden/lint/flawed.expected <(printf '%s\n' "$actual") || { echo "FAIL: lint output differs"; exit 1; }
"$BIN" lint >/dev/null 2>"${TMPDIR:-/tmp}/lint.$$" || { echo "FAIL: the knowledge base has lint warnings"; cat "${TMPDIR:-/tmp}/lint.$$"; rm -f "${TMPDIR:-/tmp}/lint.$$"; exit 1; }
rm -f "${TMPDIR:-/tmp}/lint.$$"
"$BIN" lint --rules tests/golden/lint/flawed.rules --disable L001,shadowed,code-overlap,malformed-code,L002,L003,L004,L008,L009 >/dev/null 2>&1 \
  || { echo "FAIL: --disable did not silence every check"; exit 1; }
echo "ok"
