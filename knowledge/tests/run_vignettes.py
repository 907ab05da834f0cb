#!/usr/bin/python3
"""Runs the knowledge base's vignettes through `stimrank evaluate --jsonl -`.

usage: run_vignettes.py STIMRANK VIGNETTES.json [--rules PATH]

Each vignette has a profile and expectations (all optional):
  status          {option: status}         exact status
  rank            {option: n}              exact rank
  top3            [option, ...]            each ranks 1, 2 or 3
  ranked          [option, ...]            each is ranked (recommended or consider)
  excluded        [option, ...]            each is excluded
  ranked_count    n                        number of ranked options
  reason_rules    {option: [rule, ...]}    these rules appear among the option's reasons
  missing_includes {option: [path, ...]}   these JSON paths are in the option's `missing`
  warning_contains "text"                  some warning contains the text
Invariants checked for every vignette: every option once, ranks 1..n, excluded and
never-clinical options unranked, every reason traced to a rule and a source.
"""
import json
import subprocess
import sys

NEVER_RANKED = {"snrs_transspinal", "tus"}


def check(vignette, result):
    problems = []
    expect = vignette["expect"]
    options = {o["option"]: o for o in result["options"]}
    ranks = [o["rank"] for o in result["options"] if o["rank"] is not None]
    if ranks != list(range(1, len(ranks) + 1)):
        problems.append(f"ranks are not 1..n: {ranks}")
    if len(options) != len(result["options"]):
        problems.append("an option is listed twice")
    for o in result["options"]:
        if o["status"] == "excluded" and o["rank"] is not None:
            problems.append(f"{o['option']} is excluded but ranked")
        if o["option"] in NEVER_RANKED and o["rank"] is not None:
            problems.append(f"{o['option']} must never be ranked")
        for r in o["reasons"]:
            if not r["rule"] or not r["source"]:
                problems.append(f"{o['option']}: a reason without rule or source")

    def get(option):
        if option not in options:
            problems.append(f"unknown option {option}")
            return None
        return options[option]

    for option, status in expect.get("status", {}).items():
        o = get(option)
        if o and o["status"] != status:
            problems.append(f"{option}: expected status {status}, got {o['status']} ({o['summary']})")
    for option, rank in expect.get("rank", {}).items():
        o = get(option)
        if o and o["rank"] != rank:
            problems.append(f"{option}: expected rank {rank}, got {o['rank']}")
    for option in expect.get("top3", []):
        o = get(option)
        if o and (o["rank"] is None or o["rank"] > 3):
            problems.append(f"{option}: expected in the top 3, got rank {o['rank']} ({o['status']})")
    for option in expect.get("ranked", []):
        o = get(option)
        if o and o["rank"] is None:
            problems.append(f"{option}: expected ranked, got {o['status']} ({o['summary']})")
    for option in expect.get("excluded", []):
        o = get(option)
        if o and o["status"] != "excluded":
            problems.append(f"{option}: expected excluded, got {o['status']}")
    if "ranked_count" in expect and len(ranks) != expect["ranked_count"]:
        problems.append(f"expected {expect['ranked_count']} ranked options, got {len(ranks)}")
    for option, rules in expect.get("reason_rules", {}).items():
        o = get(option)
        if o:
            fired = {r["rule"] for r in o["reasons"]}
            for rule in rules:
                if rule not in fired:
                    problems.append(f"{option}: expected reason {rule}, got {sorted(fired)}")
    for option, paths in expect.get("missing_includes", {}).items():
        o = get(option)
        if o:
            for path in paths:
                if path not in o["missing"]:
                    problems.append(f"{option}: expected {path} in missing, got {o['missing']}")
    if "warning_contains" in expect and not any(expect["warning_contains"] in w for w in result["warnings"]):
        problems.append(f"expected a warning containing {expect['warning_contains']!r}, got {result['warnings']}")
    return problems


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    binary, path = sys.argv[1], sys.argv[2]
    extra = sys.argv[3:]
    vignettes = json.load(open(path, encoding="utf-8"))
    lines = "".join(json.dumps(v["profile"]) + "\n" for v in vignettes)
    run = subprocess.run([binary, "evaluate", *extra, "--jsonl", "-"], input=lines, capture_output=True,
                         text=True, check=False)
    outputs = run.stdout.splitlines()
    if len(outputs) != len(vignettes):
        print(f"expected {len(vignettes)} results, got {len(outputs)}\n{run.stderr}")
        return 1
    failed = 0
    for vignette, line in zip(vignettes, outputs):
        result = json.loads(line)
        if "errors" in result:
            problems = [f"profile rejected: {result['errors']}"]
        else:
            problems = check(vignette, result)
        if problems:
            failed += 1
            top = ", ".join(f"{o['rank']}. {o['option']} ({o['status']})"
                            for o in result.get("options", []) if o.get("rank") and o["rank"] <= 5)
            print(f"FAIL {vignette['name']}: {vignette['why']}")
            for p in problems:
                print(f"  - {p}")
            print(f"  ranking: {top or '(none)'}")
    print(f"{len(vignettes) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
