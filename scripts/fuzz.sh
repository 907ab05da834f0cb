#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, Debian's clang) of the rule language, the
# profile readers, the FHIR mapper and the vignette test files:
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]     TARGET: rules, profile, fhir, testfile
#   scripts/fuzz.sh --runs N [TARGET|all]      a fixed number of executions instead
#   scripts/fuzz.sh --long N [TARGET|all]      N executions in a faster build, then
#                                              the corpus replayed under ASan
#
# Builds build-asan (clang, ASan + UBSan incl. float-cast-overflow, libFuzzer
# coverage; the same build scripts/test.sh tests), writes seed corpora from
# knowledge/, examples/, the golden files and ../shared/fhir, and runs each target
# for SECONDS (default 60) with its dictionary (tests/fuzz/*.dict). The corpus grows
# in build-asan/fuzz/corpus/TARGET; an input that crashes, hangs (10 s), leaks or
# breaks a property is written to build-asan/fuzz/findings/TARGET/ and the script
# exits 1: copy it into tests/fuzz/regressions/TARGET/, where the normal test suite
# replays it (tests/unit/test_fuzz_regressions.cpp).
#
# --long is for the multi-million-execution runs: ASan costs most of the time of an
# execution, so those run in build-fuzz-long (UBSan incl. float-cast-overflow, no
# ASan), and every input the run kept in its corpus is then executed once more in
# build-asan (ASan, UBSan, leaks). Run it on an otherwise idle core: libFuzzer's
# -timeout is wall-clock. STIMRANK_FUZZ_FORK=J runs a long run in J worker
# processes (libFuzzer's -fork=J), one per idle core; the executions counted are
# those of the workers' finished jobs.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

RUNS=""
LONG=0
if [ "${1:-}" = "--runs" ]; then RUNS="$2"; shift 2; fi
if [ "${1:-}" = "--long" ]; then RUNS="$2"; LONG=1; shift 2; fi
TARGET="${1:-all}"
SECONDS_EACH="${2:-60}"
ALL=(rules profile fhir testfile cds_hooks)
case "$TARGET" in
  all) TARGETS=("${ALL[@]}") ;;
  rules|profile|fhir|testfile|cds_hooks) TARGETS=("$TARGET") ;;
  *) echo "usage: scripts/fuzz.sh [--runs N | --long N] [rules|profile|fhir|testfile|cds_hooks|all] [SECONDS]" >&2; exit 2 ;;
esac

install_packages
ASAN_BUILD="${STIMRANK_FUZZ_BUILD:-$ROOT/build-asan}"
FUZZ_BUILD="$ASAN_BUILD"
[ "$LONG" = 1 ] && FUZZ_BUILD="${STIMRANK_FUZZ_LONG_BUILD:-$ROOT/build-fuzz-long}"
if [ "${STIMRANK_FUZZ_SKIP_BUILD:-0}" != 1 ]; then
  echo "== fuzz build (clang, address, undefined, libFuzzer) in $ASAN_BUILD"
  CC=clang CXX=clang++ configure_and_build "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTIMRANK_BUILD_TESTS=ON -DSTIMRANK_SANITIZE=ON -DSTIMRANK_FUZZ=ON
  if [ "$LONG" = 1 ]; then
    echo "== long-run fuzz build (clang, undefined, libFuzzer) in $FUZZ_BUILD"
    CC=clang CXX=clang++ configure_and_build "$FUZZ_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DSTIMRANK_BUILD_TESTS=OFF -DSTIMRANK_BUILD_BENCHMARKS=OFF -DSTIMRANK_SANITIZE=ON \
      "-DSTIMRANK_SANITIZERS=undefined,float-cast-overflow" -DSTIMRANK_FUZZ=ON
  fi
fi
WORK="$FUZZ_BUILD/fuzz"
mkdir -p "$WORK"

# Seed corpora: every input of its kind the project has.
seeds() {  # seeds TARGET DIR
  local target="$1" dir="$2"
  rm -rf "$dir"; mkdir -p "$dir"
  case "$target" in
    rules)
      cp "$ROOT"/knowledge/*.rules "$dir"/
      find "$ROOT/tests" "$ROOT/examples" -name '*.rules' -exec cp {} "$dir"/ \; ;;
    profile)
      cp "$ROOT"/examples/profiles/*.json "$dir"/
      "$PYTHON" - "$ROOT/knowledge/tests" "$dir" <<'PY'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
n = 0
for name in sorted(os.listdir(src)):
    document = json.load(open(os.path.join(src, name)))
    cases = document["cases"] if isinstance(document, dict) else document
    for case in cases:
        profile = dict(document.get("base", {}) if isinstance(document, dict) else {}, **case.get("profile", {}))
        profile.setdefault("id", case["name"])
        json.dump(profile, open(os.path.join(out, "vignette%03d.json" % n), "w")); n += 1
PY
      ;;
    fhir)
      cp "$ROOT"/tests/fuzz/regressions/fhir/* "$dir"/
      if [ -d "$ROOT/../shared/fhir" ]; then
        cp "$ROOT"/../shared/fhir/bundles/*.json "$dir"/
        "$PYTHON" - "$ROOT/../shared/fhir" "$dir" <<'PY'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
bulk = os.path.join(src, "synthea-10-patients")
patients = [json.loads(l) for l in open(os.path.join(bulk, "Patient.ndjson")) if l.strip()]
by = {p["id"]: [] for p in patients}
for name in sorted(os.listdir(bulk)):
    if name.endswith(".ndjson") and name != "Patient.ndjson":
        for line in open(os.path.join(bulk, name)):
            if line.strip():
                r = json.loads(line)
                pid = (r.get("subject") or r.get("patient") or {}).get("reference", "").split("/")[-1]
                if pid in by and len(by[pid]) < 40:  # small seeds: libFuzzer mutates them faster
                    by[pid].append(r)
for i, p in enumerate(patients):
    json.dump({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in [p] + by[p["id"]]]},
              open(os.path.join(out, "synthea%02d.json" % i), "w"))
hooks = os.path.join(src, "cds-hooks-requests")
for name in sorted(os.listdir(hooks)):
    try:
        request = json.load(open(os.path.join(hooks, name)))
    except ValueError:  # a request that is not JSON as it is: not a seed
        continue
    entries = []
    for value in (request.get("prefetch") or {}).values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            entries += value.get("entry", [])
        elif isinstance(value, dict) and "resourceType" in value:
            entries.append({"resource": value})
    json.dump({"resourceType": "Bundle", "type": "collection", "entry": entries},
              open(os.path.join(out, "prefetch_" + name), "w"))
PY
      fi ;;
    testfile)
      cp "$ROOT"/knowledge/tests/*.json "$dir"/ ;;
    cds_hooks)
      # Real requests written for other CDS services, where the workspace has them.
      if [ -d "$ROOT/../shared/fhir/cds-hooks-requests" ]; then
        cp "$ROOT"/../shared/fhir/cds-hooks-requests/* "$dir"/
      fi ;;
  esac
  cp "$ROOT"/tests/fuzz/regressions/"$target"/* "$dir"/ 2>/dev/null || true
}

status=0
for target in "${TARGETS[@]}"; do
  bin="$FUZZ_BUILD/tests/fuzz/fuzz_$target"
  [ -x "$bin" ] || { echo "fuzz: $bin was not built" >&2; exit 1; }
  seeds "$target" "$WORK/seeds/$target"
  mkdir -p "$WORK/corpus/$target" "$WORK/findings/$target"
  dict="$ROOT/tests/fuzz/json.dict"
  [ "$target" = rules ] && dict="$ROOT/tests/fuzz/rules.dict"
  # Inputs as large as a target's typical real ones: larger seeds are cut, and the
  # executions stay fast enough to explore.
  case "$target" in
    rules) max_len=16384 ;; profile|testfile) max_len=65536 ;; fhir|cds_hooks) max_len=262144 ;;
  esac
  limit=(-max_total_time="$SECONDS_EACH")
  [ -n "$RUNS" ] && limit=(-runs="$RUNS")
  fork="${STIMRANK_FUZZ_FORK:-1}"
  [ "$LONG" = 1 ] && [ "$fork" -gt 1 ] && limit+=(-fork="$fork")
  label="$SECONDS_EACH s"
  [ -n "$RUNS" ] && label="$RUNS executions"
  echo "== fuzz $target: $label"
  started=$(date +%s)
  outcome=clean
  # detect_leaks: libFuzzer reports a leak as a finding.
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$bin" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" -dict="$dict" \
      -print_final_stats=1 -artifact_prefix="$WORK/findings/$target/" \
      "$WORK/corpus/$target" "$WORK/seeds/$target" > "$WORK/$target.log" 2>&1; then
    echo "fuzz $target: FOUND a problem; see $WORK/$target.log and $WORK/findings/$target/"
    grep -E 'ERROR|property failed|SUMMARY' "$WORK/$target.log" | head -5
    status=1
    outcome=finding
  fi
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$WORK/$target.log" | tr '\n' ' '
  echo
  if [ "$LONG" = 1 ]; then
    # Every input the long run kept, once more under ASan (leaks included).
    echo "== replay of the $target corpus ($(ls "$WORK/corpus/$target" | wc -l) inputs) under ASan"
    if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$ASAN_BUILD/tests/fuzz/fuzz_$target" -runs=0 -timeout=10 -rss_limit_mb=2048 \
        -max_len="$max_len" -artifact_prefix="$WORK/findings/$target/" \
        "$WORK/corpus/$target" > "$WORK/$target.replay.log" 2>&1; then
      echo "fuzz $target: the ASan replay FOUND a problem; see $WORK/$target.replay.log"
      grep -E 'ERROR|property failed|SUMMARY' "$WORK/$target.replay.log" | head -5
      status=1
      outcome=finding
    fi
    # The ledger sums long runs that resume from the same corpus (several sessions).
    done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$target.log")
    # A fork-mode run says what its workers executed when it stops.
    [ -z "$done_runs" ] && done_runs=$(sed -n 's/^INFO: fuzzed for \([0-9]*\) iterations.*/\1/p' \
      "$WORK/$target.log" | tail -1)
    printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "${done_runs:-0}" \
      "$(( $(date +%s) - started ))" "$outcome" >> "$WORK/ledger.tsv"
    awk -F'\t' -v t="$target" '$2 == t { n += $3; s += $4 } END {
      printf "ledger: %s %d executions in %d s over all long runs\n", t, n, s }' "$WORK/ledger.tsv"
  fi
done
exit "$status"
