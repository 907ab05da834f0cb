#!/usr/bin/env python3
"""Profiles a second into a DataFrame, beside the CLI on the same file (a benchmark).

    build/venv/bin/python bench/python_frame.py [--profiles 20000] [--cli build/stimrank]

Writes a cohort generated from the knowledge base's vignettes (ids varied) as JSON
Lines, then times, in one run: `stimrank evaluate --jsonl` (the whole process),
`stimrank.evaluate_frame` on the JSON texts and on dicts, `RuleSet.evaluate_many`
and a loop of `RuleSet.evaluate`, and the memory evaluate_frame needs beyond its input
and output (peak resident size, in a fresh process). Run it with the venv's Python
(stimrank installed)."""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def vignette_profiles():
    out = []
    for path in sorted((ROOT / "knowledge" / "tests").glob("*.json")):
        document = json.loads(path.read_text())
        cases = document["cases"] if isinstance(document, dict) else document
        base = document.get("base", {}) if isinstance(document, dict) else {}
        for case in cases:
            out.append(dict(base, **case.get("profile", {})))
    return out


MEMORY_PROBE = r"""
import json, resource, sys
import pandas, stimrank
rs = stimrank.load(sys.argv[2])
texts = open(sys.argv[1]).read().splitlines()
stimrank.evaluate_frame(texts[:10], rs)
page = resource.getpagesize()
before = int(open("/proc/self/statm").read().split()[1]) * page
peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
frame = stimrank.evaluate_frame(texts, rs)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"growth": peak - max(before, peak_before) if peak > peak_before else 0,
                  "frame": int(frame.memory_usage(deep=True).sum())}))
"""


def rate(n, seconds):
    return f"{n / seconds:10,.0f} profiles/s"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=20000)
    parser.add_argument("--cli", default=str(ROOT / "build" / "stimrank"))
    args = parser.parse_args()
    import stimrank
    rs = stimrank.load(ROOT / "knowledge")
    seeds = vignette_profiles()
    cohort = [dict(seeds[i % len(seeds)], id=f"p{i}") for i in range(args.profiles)]
    texts = [json.dumps(p) for p in cohort]
    with tempfile.TemporaryDirectory() as work:
        path = pathlib.Path(work) / "cohort.jsonl"
        path.write_text("\n".join(texts) + "\n")
        start = time.perf_counter()
        subprocess.run([args.cli, "evaluate", "--rules", str(ROOT / "knowledge"), "--jsonl", str(path)],
                       stdout=subprocess.DEVNULL, check=True)
        cli = time.perf_counter() - start
        probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), str(ROOT / "knowledge")],
                               capture_output=True, text=True, check=True)
        memory = json.loads(probe.stdout)
    n = len(cohort)
    stimrank.evaluate_frame(texts[:10], rs)  # pandas imported before the clock
    start = time.perf_counter()
    frame = stimrank.evaluate_frame(texts, rs)
    from_text = time.perf_counter() - start
    start = time.perf_counter()
    stimrank.evaluate_frame(cohort, rs)
    from_dicts = time.perf_counter() - start
    start = time.perf_counter()
    rs.evaluate_many(texts)
    many = time.perf_counter() - start
    start = time.perf_counter()
    for t in texts[: n // 4]:
        rs.evaluate(t)
    loop = (time.perf_counter() - start) * 4
    print(f"{n} profiles, shipped knowledge base, {os.cpu_count()} cores")
    print(f"stimrank evaluate --jsonl (whole process)  {rate(n, cli)}")
    print(f"evaluate_frame, JSON texts                 {rate(n, from_text)}  ({cli / from_text:.0%} of the CLI)")
    print(f"evaluate_frame, dicts                      {rate(n, from_dicts)}")
    print(f"RuleSet.evaluate_many                      {rate(n, many)}")
    print(f"a loop of RuleSet.evaluate                 {rate(n, loop)}")
    print(f"frame: {len(frame)} rows, {frame.memory_usage(deep=True).sum() / n:.0f} bytes a profile")
    beyond = (memory["growth"] - memory["frame"]) / n
    print(f"evaluate_frame's peak memory beyond its input and the frame: {beyond:,.0f} bytes a profile")


if __name__ == "__main__":
    main()
