#!/usr/bin/env python3
"""stimrank.dask on one worker and on two, beside the CLI, on one cohort (a benchmark).

    build/venv/bin/python bench/dask_scale.py [--profiles 200000] [--cli build/stimrank]

Writes a cohort made from the knowledge base's vignettes (ids and ages varied) as JSON
Lines files, then times, on a dask.distributed LocalCluster of 1 and of 2 worker
processes (one thread each): the cohort read with `read_text`, evaluated with
`stimrank.dask.evaluate`, and (a) reduced on the workers to the counts a researcher
asks for (profiles per option and status, per leading option), (b) written as one
CSV file a partition by the workers. `stimrank evaluate --jsonl` on the same files is
the reference rate. Run it with the venv's Python (stimrank installed)."""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from python_frame import vignette_profiles  # noqa: E402


def write_cohort(folder, n, files):
    seeds = vignette_profiles()
    per_file = (n + files - 1) // files
    paths = []
    for k in range(files):
        path = folder / f"cohort{k:02d}.jsonl"
        with open(path, "w") as handle:
            for i in range(k * per_file, min(n, (k + 1) * per_file)):
                handle.write(json.dumps(dict(seeds[i % len(seeds)], id=f"p{i}", age=18 + (i * 7) % 80)) + "\n")
        paths.append(path)
    return paths


def run(workers, folder, out, rules, blocksize):
    import dask
    import dask.bag as db
    import distributed
    import stimrank.dask
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    timings = {}
    with distributed.Client(cluster) as client:
        # Workers load the rule set once; warm them before the clock.
        warm = stimrank.dask.evaluate(db.from_sequence(['{"id": "w"}'] * workers, npartitions=workers), rules)
        warm.compute()
        bag = db.read_text(str(folder / "cohort*.jsonl"), blocksize=blocksize)
        results = stimrank.dask.evaluate(bag, rules)
        start = time.perf_counter()
        counts, leading = dask.compute(results.groupby(["option", "status"], observed=True).size(),
                                       results[results["rank"] == 1]["option"].value_counts())
        timings["reduce"] = time.perf_counter() - start
        assert counts.sum() > 0 and leading.sum() > 0
        start = time.perf_counter()
        stimrank.dask.write(results, str(out / f"w{workers}" / "part-*.csv"))
        timings["write"] = time.perf_counter() - start
        timings["partitions"] = results.npartitions
    cluster.close()
    return timings


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--blocksize", type=int, default=4_000_000)
    parser.add_argument("--cli", default=str(ROOT / "build" / "stimrank"))
    args = parser.parse_args()
    import stimrank
    rules = stimrank.Evaluator(ROOT / "knowledge")
    with tempfile.TemporaryDirectory() as work:
        folder = pathlib.Path(work)
        paths = write_cohort(folder, args.profiles, args.files)
        start = time.perf_counter()
        for path in paths:
            subprocess.run([args.cli, "evaluate", "--rules", str(ROOT / "knowledge"), "--jsonl", str(path)],
                           stdout=subprocess.DEVNULL, check=True)
        cli = time.perf_counter() - start
        one = run(1, folder, folder, rules, args.blocksize)
        two = run(2, folder, folder, rules, args.blocksize)
    n = args.profiles
    print(f"{n} profiles in {args.files} JSON Lines files, {one['partitions']} partitions, {os.cpu_count()} cores")
    print(f"stimrank evaluate --jsonl (one process a file)      {n / cli:10,.0f} profiles/s")
    for label, key in (("evaluate + counts on the workers", "reduce"), ("evaluate + part-*.csv", "write")):
        print(f"{label:34} 1 worker {n / one[key]:10,.0f} profiles/s, 2 workers {n / two[key]:10,.0f} profiles/s"
              f"  ({one[key] / two[key]:.2f}x)")


if __name__ == "__main__":
    main()
