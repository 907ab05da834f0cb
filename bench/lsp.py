#!/usr/bin/env python3
"""The language server under editing (a benchmark, not a test).

    /usr/bin/python3 bench/lsp.py [--cli build/stimrank] [--edits 1000] [--memory-edits 10000]

Opens every file of the shipped knowledge base (a copy), then makes one-character
edits to spinal.rules (a character typed, then deleted) and times each from the
didChange to the diagnostics for it, with the debounce at 0 so that the time is the
server's work: parse, check, compile and lint of the whole rule set. Prints p50/p99/
max. Then --memory-edits more edits, and the server's resident memory before and
after them (it must stay bounded)."""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
os.environ.setdefault("STIMRANK_CLI", str(ROOT / "build" / "stimrank"))


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", default=os.environ["STIMRANK_CLI"])
    parser.add_argument("--edits", type=int, default=1000)
    parser.add_argument("--memory-edits", type=int, default=10000)
    args = parser.parse_args()
    os.environ["STIMRANK_CLI"] = args.cli
    import test_lsp
    test_lsp.CLI = args.cli
    work = pathlib.Path(tempfile.mkdtemp())
    try:
        folder = work / "knowledge"
        shutil.copytree(ROOT / "knowledge", folder)
        client = test_lsp.Client(debounce=0)
        client.start()
        uris = {}
        for path in sorted(folder.glob("*.rules")):
            uris[path.name] = client.open(path)
            client.diagnostics(uris[path.name])
        uri = uris["spinal.rules"]
        text = (folder / "spinal.rules").read_text()
        at = test_lsp.position_of(text, "invasiveness invasive")
        version = 1

        def edit(insert):
            nonlocal version
            version += 1
            change = ({"range": {"start": at, "end": at}, "text": " "} if insert else
                      {"range": {"start": at, "end": dict(at, character=at["character"] + 1)}, "text": ""})
            client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                     "contentChanges": [change]})

        times = []
        for i in range(args.edits):
            start_time = time.perf_counter()
            edit(i % 2 == 0)
            client.diagnostics(uri)
            times.append((time.perf_counter() - start_time) * 1000)
        times.sort()
        p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
        print(f"diagnostics after a one-character edit, whole knowledge base ({len(uris)} files), "
              f"{args.edits} edits: p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {times[-1]:.1f} ms")
        before = rss_kib(client.process.pid)
        for i in range(args.memory_edits):
            edit(i % 2 == 0)
            if i % 500 == 499:
                client.diagnostics(uri)
                client.pending.clear()
        client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": at})
        after = rss_kib(client.process.pid)
        print(f"resident memory: {before / 1024:.1f} MiB before {args.memory_edits} more edits, "
              f"{after / 1024:.1f} MiB after")
        client.stop()
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
