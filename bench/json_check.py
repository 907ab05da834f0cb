#!/usr/bin/python3
"""Checks stimrank's full result JSON Lines against the canonical result file.

  json_check.py RESULTS.jsonl REF.tsv [--lines N]

Each result line is reduced to the canonical line (profile, fired rule ids, ranking)
the way stimrank::tsv_line does it, and compared with the reference's line of the same
number. Prints how many lines were compared; exits 1 on the first difference.
"""
import json
import sys


def canonical(result):
    fired = set()
    for option in result["options"]:
        for reason in option["reasons"]:
            if reason["kind"] == "missing_data":
                continue
            if reason["kind"] == "prerequisite" and reason.get("met") is not True:
                continue
            fired.add(reason["rule"])
    ranked = sorted((o for o in result["options"] if o["rank"] is not None), key=lambda o: o["rank"])
    ranking = ",".join("%s:%s" % (o["option"], o["score"]) for o in ranked)
    return "%s\t%s\t%s" % (result["profile"], ",".join(sorted(fired)), ranking)


def main():
    args = sys.argv[1:]
    limit = None
    if "--lines" in args:
        at = args.index("--lines")
        limit = int(args[at + 1])
        del args[at:at + 2]
    results, ref = args
    count = 0
    with open(results, encoding="utf-8") as got, open(ref, encoding="utf-8") as want:
        for number, (line, expected) in enumerate(zip(got, want), start=1):
            if limit is not None and count >= limit:
                break
            actual = canonical(json.loads(line))
            if actual != expected.rstrip("\n"):
                print("line %d differs:\n  got  %s\n  want %s" % (number, actual[:200], expected[:200]))
                return 1
            count += 1
    print("%d result lines match the reference" % count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
