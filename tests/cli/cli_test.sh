#!/usr/bin/env bash
# CLI contract tests (contracts/README.md §4): exit codes, JSON Lines, stdin, check.
set -uo pipefail
BIN="$1"
ROOT="$2"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_exit() {  # expect_exit CODE description command...
  local want="$1" what="$2"; shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "$what: exit $got, expected $want ($(head -c 300 "$TMP/err"))"
}
# says TEXT WHAT: the last expect_exit's stdout holds TEXT as it stands, or WHAT fails.
says() { grep -qF -- "$1" "$TMP/out" || fail "$2"; }
PY=/usr/bin/python3

# usage errors → 2
expect_exit 2 "no command" "$BIN"
expect_exit 2 "unknown command" "$BIN" frobnicate
expect_exit 2 "evaluate without input" "$BIN" evaluate
expect_exit 2 "unknown option" "$BIN" evaluate --nope x.json
expect_exit 0 "help" "$BIN" --help

# check: the shipped knowledge base is clean
expect_exit 0 "check shipped" "$BIN" check
grep -q "^ok: neuromodulation-neuropathic-pain" "$TMP/out" || fail "check prints ok line"

# check: a broken file reports every error with file:line:column
cat >"$TMP/broken.rules" <<'RULES'
ruleset "broken" version "1"
source s "S" doi "10.1/s";
facts { age: int 0..130; }
option o "O" {
  invasiveness noninvasive;
  indication a when age >= source s because "a";
  indication b when agee >= 3 weight 1 source s because "b"
}
RULES
expect_exit 1 "check broken" "$BIN" check --rules "$TMP/broken.rules"
grep -q "broken.rules:1:29: error\[E012\]: expected \`;\` after the ruleset header" "$TMP/err" || fail "E012 at 2:1"
grep -q "broken.rules:6:28: error\[E010\]: expected a value" "$TMP/err" || fail "value expected at 6:28"
grep -q "broken.rules:7:60: error\[E012\]" "$TMP/err" || fail "missing ; at 7:60"
grep -q "has 3 errors" "$TMP/err" || fail "error count"

# evaluate one profile
expect_exit 0 "evaluate example" "$BIN" evaluate "$ROOT/examples/profiles/phn_focal_elderly.json"
$PY - "$TMP/out" <<'PYCHECK' || fail "single result conforms to the contract"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["profile"] == "phn-001"
assert set(r["ruleset"]) >= {"name", "version", "digest"}
ranks = [o["rank"] for o in r["options"] if o["rank"] is not None]
assert ranks == list(range(1, len(ranks) + 1)), ranks
statuses = {"recommended", "consider", "not_indicated", "excluded", "research_only"}
for o in r["options"]:
    assert o["status"] in statuses
    assert (o["rank"] is not None) == (o["status"] in ("recommended", "consider"))
    for reason in o["reasons"]:
        assert reason["kind"] in {"indication", "absolute_contraindication", "relative_contraindication",
                                  "caution", "prerequisite", "missing_data", "research_only", "not_indicated"}
        assert reason["source"] and reason["rule"]
seen = [o["option"] for o in r["options"]]
assert len(seen) == len(set(seen))
PYCHECK
expect_exit 0 "evaluate text" "$BIN" evaluate --format text "$ROOT/examples/profiles/phn_focal_elderly.json"
grep -q "ranked options" "$TMP/out" || fail "text view has a ranked section"
expect_exit 0 "evaluate stdin" sh -c "'$BIN' evaluate - < '$ROOT/examples/profiles/phn_focal_elderly.json'"
expect_exit 1 "missing file" "$BIN" evaluate "$TMP/nope.json"
echo '{"id": "x", "pain": {"nrs": "seven"}}' >"$TMP/bad.json"
expect_exit 1 "invalid profile" "$BIN" evaluate "$TMP/bad.json"
grep -q '/pain/nrs: expected a number from 0 to 10, got `"seven"`' "$TMP/err" || fail "profile error names the path"

# JSON Lines: one result per line; a bad line gets an error, the rest are evaluated
{
  tr -d '\n' <"$ROOT/examples/profiles/phn_focal_elderly.json"; echo
  echo '{"id": "bad", "age": "old"}'
  echo 'this is not json'
  echo
  tr -d '\n' <"$ROOT/examples/profiles/crps_pacemaker.json"; echo
} >"$TMP/batch.jsonl"
expect_exit 1 "jsonl with bad lines" sh -c "'$BIN' evaluate --jsonl - < '$TMP/batch.jsonl'"
$PY - "$TMP/out" <<'PYCHECK' || fail "jsonl output: one object per non-blank line, in order"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 4, len(lines)
objs = [json.loads(l) for l in lines]
assert objs[0]["profile"] == "phn-001"
assert objs[1]["line"] == 2 and objs[1]["errors"][0]["path"] == "/age"
assert objs[2]["line"] == 3 and objs[2]["errors"][0]["path"] == ""
assert objs[3]["profile"] == "crps-002"
PYCHECK
grep -q "stdin:2: /age: expected an integer" "$TMP/err" || fail "stderr names line 2"
grep -q "2 profiles could not be evaluated" "$TMP/err" || fail "failure count"
expect_exit 0 "jsonl file, 1 thread" "$BIN" evaluate --threads 1 --jsonl "$ROOT/tests/cli/two_profiles.jsonl"
cp "$TMP/out" "$TMP/one_thread"
expect_exit 0 "jsonl file, 2 threads" "$BIN" evaluate --threads 2 --jsonl "$ROOT/tests/cli/two_profiles.jsonl"
cmp -s "$TMP/out" "$TMP/one_thread" || fail "jsonl output does not depend on threads"
# CRLF line ends are read as LF; CR alone makes one line, whose error says so
tr '\n' '\r' <"$ROOT/tests/cli/two_profiles.jsonl" >"$TMP/cr_only.jsonl"
expect_exit 1 "jsonl with CR line ends" "$BIN" evaluate --jsonl "$TMP/cr_only.jsonl"
grep -q "carriage return without a line feed" "$TMP/err" || fail "CR-only JSON Lines: the error says why"
sed 's/$/\r/' "$ROOT/tests/cli/two_profiles.jsonl" >"$TMP/crlf.jsonl"
expect_exit 0 "jsonl with CRLF line ends" "$BIN" evaluate --threads 1 --jsonl "$TMP/crlf.jsonl"
cmp -s "$TMP/out" "$TMP/one_thread" || fail "CRLF JSON Lines give the same results as LF"

# --stats: the batch's timings as JSON, the output unchanged; only with --jsonl
expect_exit 0 "jsonl with --stats" "$BIN" evaluate --threads 1 --stats "$TMP/stats.json" \
  --jsonl "$ROOT/tests/cli/two_profiles.jsonl"
cmp -s "$TMP/out" "$TMP/one_thread" || fail "--stats leaves the output as it was"
$PY - "$TMP/stats.json" <<'PYCHECK' || fail "--stats writes profiles, failed, load_s, evaluate_s"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["profiles"] == 2 and s["failed"] == 0, s
assert s["load_s"] > 0 and s["evaluate_s"] >= 0, s
assert set(s) == {"profiles", "failed", "load_s", "evaluate_s"}, s
PYCHECK
expect_exit 1 "jsonl with bad lines, --stats" sh -c "'$BIN' evaluate --stats '$TMP/stats2.json' --jsonl - < '$TMP/batch.jsonl'"
$PY -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['failed'] == 2, s" "$TMP/stats2.json" ||
  fail "--stats counts the lines that failed"
expect_exit 2 "--stats without --jsonl" "$BIN" evaluate --stats "$TMP/x.json" "$ROOT/examples/profiles/sparse_unknowns.json"
grep -q "is for \`--jsonl\` batches" "$TMP/err" || fail "--stats without --jsonl says why"
expect_exit 1 "--stats into a missing folder" "$BIN" evaluate --stats "$TMP/no/such/dir/s.json" \
  --jsonl "$ROOT/tests/cli/two_profiles.jsonl"
grep -q "cannot write" "$TMP/err" || fail "--stats names the file it cannot write"

# results that cannot be written (a full disk) are an error, never exit 0
if [ -w /dev/full ]; then
  for t in 1 2; do
    "$BIN" evaluate --threads $t --jsonl "$ROOT/tests/cli/two_profiles.jsonl" >/dev/full 2>"$TMP/err"
    [ $? -eq 1 ] || fail "jsonl into a full disk, $t threads: exit 1"
    grep -q "the output could not be written" "$TMP/err" || fail "jsonl into a full disk says why"
  done
  "$BIN" evaluate "$ROOT/examples/profiles/fbss_after_trial.json" >/dev/full 2>"$TMP/err"
  [ $? -eq 1 ] || fail "one profile into a full disk: exit 1"
  "$BIN" table >/dev/full 2>"$TMP/err"
  [ $? -eq 1 ] || fail "table into a full disk: exit 1"
fi

# determinism: byte-identical output
"$BIN" evaluate "$ROOT/examples/profiles/fbss_after_trial.json" >"$TMP/a"
"$BIN" evaluate "$ROOT/examples/profiles/fbss_after_trial.json" >"$TMP/b"
cmp -s "$TMP/a" "$TMP/b" || fail "byte-identical output"

# stimrank test: failures show expected vs actual and the rules; exit 1; junit
cat >"$TMP/cases.json" <<'JSON'
{"base": {"conditions": ["postherpetic_neuralgia"], "devices": [], "pain": {"distribution": "focal"}},
 "cases": [
  {"name": "passes", "expect": {"status": {"tus": "research_only"}}},
  {"name": "fails", "why": "a deliberately wrong expectation",
   "profile": {"devices": ["cardiac_pacemaker"]}, "expect": {"rank": {"tens_conventional": 1}}}]}
JSON
expect_exit 1 "stimrank test with a failing case" "$BIN" test "$TMP/cases.json"
grep -q "^FAIL .*cases.json: fails — a deliberately wrong expectation" "$TMP/out" || fail "test: FAIL line"
grep -q "tens_conventional: expected rank 1, got none" "$TMP/out" || fail "test: expected vs actual"
grep -q "tens_conventional: tens_cardiac_device (absolute_contraindication)" "$TMP/out" || fail "test: rules that fired"
grep -q "^1 passed, 1 failed$" "$TMP/out" || fail "test: summary line"
expect_exit 1 "stimrank test --format junit" "$BIN" test --format junit "$TMP/cases.json"
grep -q '<testsuite name="stimrank" tests="2" failures="1" errors="0">' "$TMP/out" || fail "junit header"
# A case named with control characters (an escape sequence, U+0001): never written
# to the terminal, and the JUnit file stays XML a CI server can read.
printf '[{"name":"a\\u0001b\\u001b[31mred","profile":{"id":"x","age":70},"expect":{"ranked_count":99}}]' >"$TMP/controls.json"
expect_exit 1 "test, control characters in a name" "$BIN" test "$TMP/controls.json"
grep -q "^FAIL .*controls.json: a?b?\[31mred$" "$TMP/out" || fail "test text shows control characters as ? ($(head -1 "$TMP/out" | od -c | head -2))"
expect_exit 1 "test --format junit, control characters in a name" "$BIN" test --format junit "$TMP/controls.json"
$PY -c "import sys, xml.dom.minidom as m; m.parseString(open(sys.argv[1], 'rb').read())" "$TMP/out" || fail "junit with control characters is XML"
# a test file that is not JSON says where it breaks
printf '[\n  {"name": "a",\n   "expect" {}}\n]\n' >"$TMP/broken.json"
expect_exit 1 "stimrank test with a file that is not JSON" "$BIN" test "$TMP/broken.json"
grep -q "broken.json: invalid JSON at byte 31: parse error at line 3, column 13: syntax error" "$TMP/out" ||
  fail "test: where the JSON breaks ($(head -c 300 "$TMP/out"))"
# a test file's shape is checked before any case runs: a misspelt expectation is
# an error at its JSON path, never a case that passes because it checks nothing
cat >"$TMP/misspelt.json" <<'JSON'
[{"name": "a", "expect": {"stauts": {"tens_conventional": "excluded"}}},
 {"name": "b", "nmae": "x", "expect": {"status": {"tens_conventional": "banned"}, "rank": {"tus": "1"}}}]
JSON
expect_exit 1 "stimrank test with a misspelt expectation" "$BIN" test "$TMP/misspelt.json"
says 'misspelt.json: /0/expect/stauts: unknown expectation `stauts` (status, rank,' "test: unknown expectation ($(head -c 300 "$TMP/out"))"
says 'misspelt.json: /1/nmae: unknown key `nmae`' "test: unknown case key"
says 'misspelt.json: /1/expect/status/tens_conventional: expected a status (recommended, consider, research_only, not_indicated or excluded), got `"banned"`' "test: unknown status"
says 'misspelt.json: /1/expect/rank/tus: expected a rank (a whole number from 1), got `"1"`' "test: rank of the wrong type"
grep -q "^0 passed, 0 failed, 4 errors$" "$TMP/out" || fail "test: every shape error, no case run"
# a case that expects nothing, two cases of one name, a top3 of four or with an option
# twice: each an error, since such a case passes whatever the rules say
cat >"$TMP/hollow.json" <<'JSON'
[{"name": "a", "profile": {"id": "p"}},
 {"name": "b", "profile": {"id": "p"}, "expect": {}},
 {"name": "a", "profile": {"id": "p"}, "expect": {"top3": ["tus", "dbs", "tus", "rtms_m1_hf"]}}]
JSON
expect_exit 1 "stimrank test with hollow cases" "$BIN" test "$TMP/hollow.json"
says 'hollow.json: /0: a case needs `expect`: without an expectation it checks nothing' "test: a case without expect"
says 'hollow.json: /1/expect: no expectation: a case that expects nothing checks nothing' "test: an empty expect"
says 'hollow.json: /2/name: the case name `a` is also the name of /0; each case needs its own' "test: two cases of one name"
says 'hollow.json: /2/expect/top3: lists 4 options; `top3` holds at most 3' "test: a top3 of four"
says 'hollow.json: /2/expect/top3/2: `tus` is listed twice' "test: an option listed twice"
grep -q "^0 passed, 0 failed, 5 errors$" "$TMP/out" || fail "test: every hollow case an error, no case run"
expect_exit 0 "stimrank test on the shipped tests" "$BIN" test
grep -q " passed, 0 failed$" "$TMP/out" || fail "shipped tests pass"

# stimrank coverage: Markdown and LCOV, --min gates
expect_exit 0 "coverage" "$BIN" coverage
grep -Eq "^[0-9]+ of [0-9]+ rules fired in [0-9]+ test cases" "$TMP/out" || fail "coverage summary"
grep -q "| tens_cardiac_device | absolute_contraindication |" "$TMP/out" || fail "coverage per rule"
expect_exit 0 "coverage lcov" "$BIN" coverage --format lcov
grep -q "^SF:.*transcranial.rules$" "$TMP/out" && grep -q "^end_of_record$" "$TMP/out" || fail "lcov records"
expect_exit 0 "coverage --min 100 (the shipped tests cover every rule)" "$BIN" coverage --min 100
expect_exit 0 "coverage --min 50" "$BIN" coverage --min 50
expect_exit 1 "coverage of a failing-free but sparse file" "$BIN" coverage --min 90 "$TMP/cases.json"

# stimrank explain: the rule tree, and the contraindication whose removal changes the top option
echo '{"id": "ci-1", "age": 66, "conditions": ["central_pain_syndrome"], "devices": ["cochlear_implant"], "pain": {"nrs": 7, "duration_months": 20}}' >"$TMP/explain.json"
expect_exit 0 "explain" "$BIN" explain "$TMP/explain.json"
grep -q "^  absolute_contraindication rtms_hardware_near_coil: true$" "$TMP/out" || fail "explain: rule truth"
grep -q "^- rtms_m1_hf would rank 1st if devices did not contain cochlear_implant$" "$TMP/out" || fail "explain: counterfactual"
grep -q "^- /assessments/diathermy_needed:$" "$TMP/out" || fail "explain: missing field"
grep -q "assessments.diathermy_needed were false: 1\. " "$TMP/out" || fail "explain: each value of a missing field"
expect_exit 1 "explain invalid" "$BIN" explain "$TMP/bad.json"
# The search for what would change the ranking is bounded: a rule set naming more
# single changes than explain tries (300 fields of 20 values: 6,000) says so.
$PY - "$TMP/wide.rules" <<'PY'
import sys
values = ", ".join("v%d" % j for j in range(20))
lines = ['ruleset "wide" version "1";', 'source s "S" doi "10.1/s";', "facts {"]
lines += ["  f%d: enum {%s};" % (i, values) for i in range(300)]
lines += ["}", 'option a "A" { invasiveness noninvasive; indication i when %s weight 1 source s because "b"; }'
          % " or ".join("f%d == v%d" % (i, i % 20) for i in range(300))]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
echo '{"id":"wide"}' >"$TMP/wide.json"
expect_exit 0 "explain on a wide rule set" "$BIN" explain --rules "$TMP/wide.rules" "$TMP/wide.json"
grep -q "^- (the rules name more single changes than explain tries: the first 4096 were tried)$" "$TMP/out" || fail "explain says its search was bounded"
grep -A1 "^- /f299:$" "$TMP/out" | grep -q "(not tried: explain's search stopped before it)" || fail "explain lists every missing field, and says which it did not try"

# stimrank diff: every changed ranking is attributed to the changed rule
cp -r "$ROOT/knowledge" "$TMP/kb-new"
sed -i 's/grade IFCN(level A) source lefaucheur2020/grade IFCN(level C) source lefaucheur2020/' "$TMP/kb-new/transcranial.rules"
$PY -c "
import json, sys
for v in json.load(open(sys.argv[1])): print(json.dumps(v['profile']))" "$ROOT/knowledge/tests/vignettes.json" >"$TMP/cohort.jsonl"
expect_exit 0 "stimrank diff" "$BIN" diff "$ROOT/knowledge" "$TMP/kb-new" --cohort "$TMP/cohort.jsonl"
grep -q "^| rtms_ifcn_np | changed | [1-9]" "$TMP/out" || fail "diff names the changed rule"
changed_rows=$(grep -c "^| [a-z0-9-]* | [a-z0-9_]* | .* → .* | .* → .* | " "$TMP/out" || true)
attributed=$(grep -c "^| [a-z0-9-]* | [a-z0-9_]* | .* → .* | .* → .* | .*rtms_ifcn_np" "$TMP/out" || true)
[ "$changed_rows" -gt 0 ] && [ "$changed_rows" -eq "$attributed" ] || fail "every change attributed to rtms_ifcn_np ($attributed of $changed_rows)"
expect_exit 0 "stimrank diff, no change" "$BIN" diff "$ROOT/knowledge" "$ROOT/knowledge" --cohort "$TMP/cohort.jsonl"
grep -q "^0 of 55 patients change.$" "$TMP/out" || fail "identical rule sets change nothing"
expect_exit 2 "diff usage" "$BIN" diff "$ROOT/knowledge"
# The counts cover the whole cohort however few changes are listed; the listing
# stops at whole patients and says how many it leaves out.
$PY - "$TMP/cohort.jsonl" >"$TMP/cohort3.jsonl" <<'PY'
import json, sys
profiles = [json.loads(line) for line in open(sys.argv[1])]
for copy in range(3):
    for p in profiles:
        print(json.dumps(dict(p, id="%s-%d" % (p.get("id", "p"), copy))))
PY
expect_exit 0 "diff, all listed" "$BIN" diff "$ROOT/knowledge" "$TMP/kb-new" --cohort "$TMP/cohort3.jsonl" --format json
cp "$TMP/out" "$TMP/diff-all.json"
expect_exit 0 "diff, one listed" "$BIN" diff "$ROOT/knowledge" "$TMP/kb-new" --cohort "$TMP/cohort3.jsonl" --format json --max-changes 1
$PY - "$TMP/diff-all.json" "$TMP/out" <<'PY' || fail "diff --max-changes lists fewer, counts the same"
import json, sys
full, few = (json.load(open(f)) for f in sys.argv[1:3])
assert full["unlisted_changes"] == 0 and full["changed_profiles"] >= 3, full["changed_profiles"]
assert few["unlisted_changes"] > 0
assert few["changes"] == [c for c in full["changes"] if c["profile"] == full["changes"][0]["profile"]]
assert len(few["changes"]) + few["unlisted_changes"] == len(full["changes"])
for key in ("profiles", "changed_profiles", "invalid"):
    assert few[key] == full[key], key
strip = lambda rules: [{k: v for k, v in r.items() if k != "profiles"} for r in rules]
assert strip(few["by_rule"]) == strip(full["by_rule"])
assert all(r["patients"] == len(r["profiles"]) for r in full["by_rule"])
PY
expect_exit 0 "diff, one listed (text)" "$BIN" diff "$ROOT/knowledge" "$TMP/kb-new" --cohort "$TMP/cohort3.jsonl" --max-changes 1
grep -q "more option changes are counted above but not listed (the first [0-9]* are; \`--max-changes N\` lists more)" "$TMP/out" || fail "diff says what it leaves out"
expect_exit 2 "diff --max-changes x" "$BIN" diff "$ROOT/knowledge" "$TMP/kb-new" --cohort "$TMP/cohort.jsonl" --max-changes x
# A profile id cannot add rows to the report: a line break, `|` and `\` in it are
# escaped in its table cell.
$PY - "$TMP/cohort.jsonl" >"$TMP/cohort-ids.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    p = json.loads(line)
    p["id"] = p.get("id", "p") + "\\| x |\n| injected | tens | recommended → excluded | 1 → - | fake |"
    print(json.dumps(p))
PY
expect_exit 0 "diff, hostile ids" "$BIN" diff "$ROOT/knowledge" "$TMP/kb-new" --cohort "$TMP/cohort-ids.jsonl"
! grep -q "^| injected" "$TMP/out" || fail "a profile id added a row to the diff report"
grep -q '^| [a-z0-9-]*\\\\\\| x \\|?\\| injected \\| tens' "$TMP/out" || fail "the id is escaped in its cell ($(grep -m1 injected "$TMP/out"))"
# A cohort is streamed: a line over the profile limit is that profile's error, an
# unending line or a folder is an error with no report, never "0 of 0 patients".
{ head -2 "$TMP/cohort.jsonl"; $PY -c "print('{\"id\":\"big\",\"x\":\"' + 'x' * 5000000 + '\"}')"; sed -n 3p "$TMP/cohort.jsonl"; } >"$TMP/cohort-big.jsonl"
expect_exit 1 "diff, a line over the limit" "$BIN" diff "$ROOT/knowledge" "$ROOT/knowledge" --cohort "$TMP/cohort-big.jsonl"
grep -q "^0 of 4 patients change; 1 profiles could not be evaluated.$" "$TMP/out" || fail "diff counts the long line ($(head -3 "$TMP/out"))"
grep -q "^error: profile 3: line 3 is larger than the profile limit of 4194304 bytes$" "$TMP/out" || fail "diff names the long line"
expect_exit 1 "diff --cohort /dev/zero" timeout 120 "$BIN" diff "$ROOT/knowledge" "$ROOT/knowledge" --cohort /dev/zero
grep -q "cannot read \`/dev/zero\` to its end: a line is longer than 1073741824 bytes without a line break" "$TMP/err" || fail "diff /dev/zero ($(head -c 300 "$TMP/err"))"
[ ! -s "$TMP/out" ] || fail "diff /dev/zero gives no report"
expect_exit 1 "diff --cohort a folder" "$BIN" diff "$ROOT/knowledge" "$ROOT/knowledge" --cohort "$TMP"
grep -q "to its end: Is a directory" "$TMP/err" || fail "diff on a folder ($(head -c 300 "$TMP/err"))"

# registry: a version whose stored files were edited after publishing is listed
# with its problem (exit 1) and never loaded
expect_exit 0 "publish" "$BIN" publish --db "$TMP/registry.db"
expect_exit 0 "versions of an intact registry" "$BIN" versions --db "$TMP/registry.db"
grep -q "^neuromodulation-neuropathic-pain	1.0.0	sha256:" "$TMP/out" || fail "versions lists the rule set"
$PY -c "
import sqlite3, sys
with sqlite3.connect(sys.argv[1]) as c:
    c.execute(\"UPDATE ruleset_files SET content = replace(content, 'absolute_contraindication', 'relative_contraindication')\")" "$TMP/registry.db"
expect_exit 1 "versions of an edited registry" "$BIN" versions --db "$TMP/registry.db"
grep -q "^neuromodulation-neuropathic-pain	1.0.0	sha256:" "$TMP/out" || fail "versions still lists it"
grep -q "^stimrank: neuromodulation-neuropathic-pain 1.0.0 cannot be loaded: E116: rule set .* is not what was published" "$TMP/err" ||
  fail "versions flags the edited version ($(head -c 300 "$TMP/err"))"
expect_exit 1 "evaluate with an edited registry" "$BIN" evaluate --rules "db:$TMP/registry.db#neuromodulation-neuropathic-pain@1.0.0" "$ROOT/examples/profiles/crps_pacemaker.json"
grep -q "error\[E116\]" "$TMP/err" || fail "evaluate refuses the edited registry"

# Profiles a reader must refuse (issue 22): a repeated key (the last value would win,
# and a contraindication vanish), a NUL byte (the parser stops there), a huge integer.
printf '{"id":"a","devices":["cardiac_pacemaker"],"devices":[]}' > "$TMP/dup.json"
expect_exit 1 "a repeated key" "$BIN" evaluate "$TMP/dup.json"
grep -q '/devices: duplicate key `devices`' "$TMP/err" || fail "the repeated key is named at its path ($(head -c 300 "$TMP/err"))"
printf '{"id":"ab","age":70}\0 trailing {{{' > "$TMP/nul.json"
expect_exit 1 "a NUL byte" "$BIN" evaluate "$TMP/nul.json"
grep -q 'invalid JSON at byte 21: a NUL byte' "$TMP/err" || fail "the NUL byte is reported ($(head -c 300 "$TMP/err"))"
printf '{"id":"ab","age":1e19}' > "$TMP/huge.json"
expect_exit 1 "a huge integer" "$BIN" evaluate "$TMP/huge.json"
grep -q '/age: expected an integer' "$TMP/err" || fail "the huge integer is refused ($(head -c 300 "$TMP/err"))"

# fmt writes through a temporary file: when that fails the file is left whole, exit 1.
printf 'ruleset "x" version "1";\nsource s "S" doi "10.1/s";\nfacts {   age: int; }\n' > "$TMP/fmt.rules"
cp "$TMP/fmt.rules" "$TMP/fmt.before"
mkdir "$TMP/fmt.rules.stimrank-fmt.tmp"
expect_exit 1 "fmt cannot write" "$BIN" fmt "$TMP/fmt.rules"
cmp -s "$TMP/fmt.rules" "$TMP/fmt.before" || fail "fmt changed the file it could not write"
grep -q "cannot write .*fmt.rules.*the file is unchanged" "$TMP/err" || fail "fmt says it could not write ($(head -c 300 "$TMP/err"))"
grep -q "formatted" "$TMP/out" && fail "fmt claimed to have formatted"
rmdir "$TMP/fmt.rules.stimrank-fmt.tmp"
expect_exit 0 "fmt writes" "$BIN" fmt "$TMP/fmt.rules"
grep -q "^facts {$" "$TMP/fmt.rules" || fail "fmt rewrote the file"
[ -e "$TMP/fmt.rules.stimrank-fmt.tmp" ] && fail "fmt left its temporary file"
# A file written through a temporary one: a symbolic link keeps pointing at the
# file it names (now formatted), a FIFO is written to in place (never replaced by a
# file), and a new file gets the umask's permissions (perms::unknown once gave a
# new report setuid, setgid, sticky and world-writable bits).
mkdir -p "$TMP/links"
cp "$TMP/fmt.rules" "$TMP/links/real.rules" && ln -s real.rules "$TMP/links/link.rules"
expect_exit 0 "fmt through a symbolic link" "$BIN" fmt "$TMP/links/link.rules"
[ -L "$TMP/links/link.rules" ] || fail "fmt replaced the symbolic link with a file"
grep -q "^facts {$" "$TMP/links/real.rules" || fail "fmt did not format the file the link names"
printf '{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p1","birthDate":"1960-01-01"}}]}' >"$TMP/links/bundle.json"
expect_exit 0 "from-fhir --report, a new file" "$BIN" from-fhir --as-of 2026-12-01 --report "$TMP/links/report.json" "$TMP/links/bundle.json"
mode=$(stat -c %a "$TMP/links/report.json")
[ $((8#$mode & 8#7002)) -eq 0 ] || fail "a new report has mode $mode (setuid, setgid, sticky or world-writable)"
mkfifo "$TMP/links/report.fifo"
timeout 30 cat "$TMP/links/report.fifo" >"$TMP/links/fifo.out" &
reader=$!
expect_exit 0 "from-fhir --report, a FIFO" timeout 30 "$BIN" from-fhir --as-of 2026-12-01 --report "$TMP/links/report.fifo" "$TMP/links/bundle.json"
wait "$reader"
[ -p "$TMP/links/report.fifo" ] || fail "the FIFO was replaced by a file"
cmp -s "$TMP/links/fifo.out" "$TMP/links/report.json" || fail "the report reached the FIFO's reader"

# A tab or line break in a profile id stays inside its one TSV line, escaped.
printf '{"id":"a\\tb\\nc\\\\d","age":60}\n' > "$TMP/tab_id.jsonl"
expect_exit 0 "an id with a tab and a line break" "$BIN" evaluate --format tsv --jsonl "$TMP/tab_id.jsonl"
[ "$(wc -l < "$TMP/out")" -eq 1 ] || fail "one TSV line for one profile ($(head -c 200 "$TMP/out"))"
[ "$(cut -f1 "$TMP/out")" = 'a\tb\nc\\d' ] || fail "the id is escaped ($(cut -f1 "$TMP/out"))"

# Inputs past a size limit are read only up to it (issue 22): /dev/zero as a profile,
# as JSON Lines (one endless line) and as a rule file or include end in clear errors.
expect_exit 1 "evaluate /dev/zero" timeout 60 "$BIN" evaluate /dev/zero
grep -q "larger than the limit of 4194304 bytes" "$TMP/err" || fail "evaluate /dev/zero names the limit ($(head -c 300 "$TMP/err"))"
expect_exit 1 "evaluate --jsonl /dev/zero" timeout 60 "$BIN" evaluate --jsonl /dev/zero
grep -q "without a line break; the rest of the input was not read" "$TMP/err" || fail "an endless line stops the batch ($(head -c 300 "$TMP/err"))"
# A vignette test file is read up to its limit (64 MiB, --limit test-file-bytes=N).
expect_exit 1 "test /dev/zero" timeout 60 "$BIN" test /dev/zero
grep -q "^ERROR /dev/zero: the test file is larger than the limit of 67108864 bytes$" "$TMP/out" || fail "test /dev/zero names the limit ($(head -c 300 "$TMP/out"))"
expect_exit 1 "coverage /dev/zero" timeout 60 "$BIN" coverage /dev/zero
grep -q "/dev/zero: the test file is larger than the limit" "$TMP/out" "$TMP/err" || fail "coverage /dev/zero names the limit"
expect_exit 1 "test over --limit test-file-bytes" "$BIN" test --limit test-file-bytes=1000 "$ROOT/knowledge/tests/vignettes.json"
grep -q "vignettes.json: the test file is larger than the limit of 1000 bytes" "$TMP/out" || fail "test-file-bytes is the test file limit"
expect_exit 0 "test within the limit" "$BIN" test "$ROOT/knowledge/tests/vignettes.json"
expect_exit 1 "check --rules /dev/zero" timeout 60 "$BIN" check --rules /dev/zero
grep -q "E113" "$TMP/err" || fail "an endless rule file is E113 ($(head -c 300 "$TMP/err"))"
ln -s /dev/zero "$TMP/zero.rules"
printf 'include "zero.rules";\n' > "$TMP/include_zero.rules"
expect_exit 1 "include /dev/zero" timeout 60 "$BIN" check --rules "$TMP/include_zero.rules"
# (An included device or FIFO is not read at all: E105, not a regular file.)
grep -q "E105.*it is not a regular file" "$TMP/err" || fail "an endless included file is E105, not read ($(head -c 300 "$TMP/err"))"
# An include names a rule file: another file is not read, so none of it is quoted.
printf 'include "/etc/passwd";\n' > "$TMP/include_passwd.rules"
expect_exit 1 "include of a file that is not a rule file" "$BIN" check --rules "$TMP/include_passwd.rules"
grep -q 'E105.*which is not a rule file' "$TMP/err" || fail "include /etc/passwd is E105 ($(head -c 300 "$TMP/err"))"
# An included FIFO would block the reader for ever (no writer): refused at once.
mkdir -p "$TMP/fifo" && mkfifo "$TMP/fifo/pipe.rules" && printf 'include "pipe.rules";\n' > "$TMP/fifo/main.rules"
expect_exit 1 "include a FIFO" timeout 30 "$BIN" check --rules "$TMP/fifo/main.rules"
grep -q 'E105.*cannot read rule file `pipe.rules`: it is not a regular file' "$TMP/err" || fail "include of a FIFO is E105 ($(head -c 300 "$TMP/err"))"
grep -q "root:" "$TMP/err" && fail "the included file's text was quoted"
# A line over the profile limit is one error line; the batch goes on.
{ printf '{"id":"x"'; head -c 5000000 /dev/zero | tr '\0' ' '; printf '}\n{"id":"after","age":60}\n'; } > "$TMP/long.jsonl"
expect_exit 1 "an overlong JSON Lines line" "$BIN" evaluate --format tsv --jsonl "$TMP/long.jsonl"
grep -q '^{"line":1,"errors":\[{"path":"","message":"the profile is larger than the limit' "$TMP/out" || fail "line 1 is too large ($(head -c 200 "$TMP/out"))"
grep -q "^after	" "$TMP/out" || fail "the line after it is evaluated"

# A rule-set name or version with `@` or `#` could be published and never loaded.
printf 'ruleset "a@b" version "1#2";\nsource s "S" doi "10.1/s";\nfacts { age: int; }\n' > "$TMP/at.rules"
expect_exit 1 "@ and # in the header" "$BIN" check --rules "$TMP/at.rules"
[ "$(grep -c 'may not contain `@` or `#`' "$TMP/err")" -eq 2 ] || fail "name and version are both refused ($(head -c 300 "$TMP/err"))"
# An id's length is counted in characters, as the contract's maxLength counts them.
$PY -c "import json; print(json.dumps({'id': '\u00e9' * 128, 'age': 60}))" > "$TMP/id128.json"
expect_exit 0 "an id of 128 accented characters" "$BIN" evaluate "$TMP/id128.json"
$PY -c "import json; print(json.dumps({'id': '\u00e9' * 129, 'age': 60}))" > "$TMP/id129.json"
expect_exit 1 "an id of 129 characters" "$BIN" evaluate "$TMP/id129.json"
# --format text shows no control character from the profile (an ANSI escape).
printf '{"id":"a\\u001b[31mRED","age":60}' > "$TMP/ansi.json"
expect_exit 0 "an id with an escape sequence" "$BIN" evaluate --format text "$TMP/ansi.json"
grep -q "$(printf '\033')" "$TMP/out" && fail "--format text wrote an escape character"
# fmt keeps a number as written (a double would change its digits).
printf 'ruleset "x" version "1";\nsource s "S" doi "10.1/s";\nfacts {\n  age: int 0..99999999999999999999999;\n}\n' > "$TMP/big.rules"
expect_exit 0 "fmt --check with a long number" "$BIN" fmt --check "$TMP/big.rules"
# Past max_files, E113 once, not once per file.
mkdir "$TMP/many"
for i in $(seq 1 520); do printf 'source s%d "S" doi "10.1/s";\n' "$i" > "$TMP/many/f$i.rules"; done
expect_exit 1 "more rule files than the limit" "$BIN" check --rules "$TMP/many"
[ "$(grep -c 'E113' "$TMP/err")" -eq 1 ] || fail "one E113 for too many files ($(grep -c E113 "$TMP/err"))"

# Every resource limit is an option (--limit NAME=N) with a safe default; hitting
# one is a clear error, not an out-of-memory kill.
PROFILE="$ROOT/examples/profiles/phn_focal_elderly.json"
expect_exit 2 "an unknown limit" "$BIN" evaluate --limit memory=1 "$PROFILE"
grep -q "\`--limit\` takes NAME=N" "$TMP/err" || fail "--limit usage message ($(head -c 200 "$TMP/err"))"
expect_exit 2 "a limit of zero" "$BIN" evaluate --limit profile-bytes=0 "$PROFILE"
expect_exit 1 "--limit profile-bytes" "$BIN" evaluate --limit profile-bytes=100 "$PROFILE"
grep -q "larger than the limit of 100 bytes" "$TMP/err" || fail "profile-bytes message ($(head -c 200 "$TMP/err"))"
expect_exit 1 "--limit profile-bytes on a JSON Lines line" "$BIN" evaluate --limit profile-bytes=100 --jsonl "$ROOT/tests/cli/two_profiles.jsonl"
grep -q '"errors"' "$TMP/out" || fail "a JSON Lines line over --limit profile-bytes is an error line"
printf '{"id":"d","pain":{"nrs":3}}' > "$TMP/nested.json"
expect_exit 1 "--limit profile-depth" "$BIN" evaluate --limit profile-depth=1 "$TMP/nested.json"
expect_exit 1 "--limit rule-files" "$BIN" check --limit rule-files=2 --rules "$ROOT/knowledge"
grep -q "E113" "$TMP/err" || fail "rule-files is E113 ($(head -c 200 "$TMP/err"))"
expect_exit 1 "--limit expression-depth" "$BIN" check --limit expression-depth=2 --rules "$ROOT/knowledge"
grep -q "E020" "$TMP/err" || fail "expression-depth is E020 ($(head -c 200 "$TMP/err"))"
expect_exit 1 "--limit let-nodes" "$BIN" check --limit let-nodes=10 --rules "$ROOT/knowledge"
grep -q "E113.*lets, written out" "$TMP/err" || fail "let-nodes is E113 ($(head -c 200 "$TMP/err"))"
expect_exit 1 "--limit concept-members" "$BIN" check --limit concept-members=10 --rules "$ROOT/knowledge"
grep -q "E113.*members and codes" "$TMP/err" || fail "concept-members is E113 ($(head -c 200 "$TMP/err"))"
expect_exit 1 "--limit rules" "$BIN" check --limit rules=10 --rules "$ROOT/knowledge"
expect_exit 1 "--limit rule-file-bytes" "$BIN" check --limit rule-file-bytes=1000 --rules "$ROOT/knowledge"
grep -q "E113" "$TMP/err" || fail "rule-file-bytes is E113 ($(head -c 200 "$TMP/err"))"
printf '{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"a"}}]}' > "$TMP/tiny_bundle.json"
expect_exit 1 "--limit fhir-bytes" "$BIN" evaluate --as-of 2026-12-01 --limit fhir-bytes=20 --fhir "$TMP/tiny_bundle.json"
grep -q "larger than the limit of 20 bytes" "$TMP/err" || fail "fhir-bytes message ($(head -c 200 "$TMP/err"))"
expect_exit 0 "defaults take the shipped knowledge base" "$BIN" check --limit rules=200000 --rules "$ROOT/knowledge"

if [ "$failures" -ne 0 ]; then echo "$failures CLI check(s) failed"; exit 1; fi
echo "all CLI checks passed"
