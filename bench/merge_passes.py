#!/usr/bin/env python3
"""Merge stimrank's passes of the harness into one summary per variant.

peers.sh runs stimrank's variants (1 and 2 threads, in process, preloaded, the CLI)
in turn, one run of each per pass, so that a slow stretch of the machine falls on
every variant alike instead of on all runs of one of them; the harness's bench.py
writes each pass to RESULTS/passN/SCALE/summary.json. This writes each variant's
medians over the passes into RESULTS/SCALE/summary.json, beside the peers' entries,
in the harness's own format (runs = passes).

    merge_passes.py --results DIR --scale small --passes 3 --peers a,b,...
"""
import argparse
import json
import os
import statistics
import sys

# Fields taken from the first pass (they do not vary from run to run).
SAME = ("peer", "label", "version", "options", "rules", "profiles", "translate_s",
        "mean_fired_rules", "clock", "target")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def merge(passes):
    entries = [e for e in passes if e]
    first = entries[0]
    merged = {key: first.get(key) for key in SAME}
    for key in ("load_s", "eval_rate", "steady_rate", "wall_s", "cpu_s", "max_rss_mib",
                "est_wall_target_s"):
        if any(key in e for e in entries):
            merged[key] = median(e.get(key) for e in entries)
    for rate in ("eval_rate", "steady_rate"):
        lows = [e.get(rate + "_min") for e in entries if e.get(rate + "_min") is not None]
        highs = [e.get(rate + "_max") for e in entries if e.get(rate + "_max") is not None]
        merged[rate + "_min"] = min(lows) if lows else None
        merged[rate + "_max"] = max(highs) if highs else None
    # Each pass's own rate, in pass order (None where a pass has no result), so
    # that a ratio of two variants can be taken within each pass (report.py).
    merged["pass_rates"] = [e.get("steady_rate") if e else None for e in passes]
    entries = [e for e in entries if e]
    merged["runs"] = sum(e.get("runs", 0) for e in entries)
    merged["ok_runs"] = sum(e.get("ok_runs", 0) for e in entries)
    matches = [e.get("match") for e in entries]
    merged["match"] = None if all(m is None for m in matches) else all(m is True for m in matches)
    merged["mismatch"] = next((e["mismatch"] for e in entries if e.get("mismatch")), None)
    merged["first_mismatch"] = next((e["first_mismatch"] for e in entries if e.get("first_mismatch")),
                                    None)
    return merged


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--scale", required=True)
    parser.add_argument("--passes", type=int, required=True)
    parser.add_argument("--peers", required=True)
    args = parser.parse_args()
    target = os.path.join(args.results, args.scale, "summary.json")
    summary = json.load(open(target)) if os.path.exists(target) else {}
    missing = []
    for peer in args.peers.split(","):
        entries = []
        for number in range(1, args.passes + 1):
            path = os.path.join(args.results, "pass%d" % number, args.scale, "summary.json")
            entry = json.load(open(path)).get(peer) if os.path.exists(path) else None
            if entry is None:
                missing.append("pass %d of `%s`" % (number, peer))
            entries.append(entry)
        if any(entries):
            summary[peer] = merge(entries)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as out:
        json.dump(summary, out, indent=1)
    if missing:
        print("merge_passes.py: no result for " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
