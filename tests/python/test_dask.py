"""stimrank.dask on a real dask.distributed LocalCluster (2 worker processes).

A cohort of 50,000 profiles made from the knowledge base's vignettes (ids and ages
varied, some invalid) is evaluated on the cluster and compared, row for row, with
`stimrank evaluate --jsonl` on the same files; a worker killed in the middle of a
partition must not change the answer.
"""
import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys

import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")
import dask.bag as db  # noqa: E402
import dask.dataframe as dd  # noqa: E402

import stimrank  # noqa: E402
import stimrank.dask  # noqa: E402
from test_fhir_vignettes import vignettes  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = os.environ.get("STIMRANK_CLI", str(ROOT / "build" / "stimrank"))
PROFILES = 50_000
FILES = 4


def cohort_lines():
    seeds = [profile for _, profile in vignettes()]
    lines = []
    for i in range(PROFILES):
        profile = dict(seeds[i % len(seeds)], id=f"c{i:05d}", age=18 + (i * 7) % 80)
        if i % 997 == 13:
            profile["age"] = "old"  # invalid: an error row with its JSON path
        text = json.dumps(profile)
        if i % 1999 == 5:
            text = text[: len(text) // 2]  # invalid: not JSON at all
        lines.append(text)
    return lines


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    lines = cohort_lines()
    step = len(lines) // FILES
    paths = []
    for k in range(FILES):
        path = folder / f"part{k}.jsonl"
        path.write_text("\n".join(lines[k * step:(k + 1) * step]) + "\n\n")  # a blank line, skipped
        paths.append(path)
    return folder, paths, lines


@pytest.fixture(scope="module")
def expected(cohort):
    """The rows `stimrank evaluate --jsonl` gives, file by file, in the frame's terms."""
    _, paths, _ = cohort
    rows = []
    for path in paths:
        out = subprocess.run([CLI, "evaluate", "--jsonl", str(path)], capture_output=True, text=True)
        assert out.returncode in (0, 1), out.stderr
        for line in out.stdout.splitlines():
            result = json.loads(line)
            if "errors" in result:
                message = "; ".join((e["path"] or "profile") + ": " + e["message"] for e in result["errors"])
                rows.append(("error", None, "error", None, None, None, None, 0, message))
                continue
            for o in result["options"]:
                lead = o["evidence"][0] if o["evidence"] else None
                grade = None
                if lead is not None:
                    fixed = {"rule", "scheme", "weight", "condition", "source", "doi", "tags", "unverified"}
                    grade = ", ".join(f"{k} {v}" for k, v in lead.items() if k not in fixed)
                rows.append((result["profile"], o["option"], o["status"], o["rank"], o["score"],
                             lead["scheme"] if lead else None, grade, len(o["missing"]), None))
    return rows


def frame_rows(frame):
    out = []
    for r in frame.itertuples(index=False):
        status = str(r.status)
        nothing = lambda v: None if pd.isna(v) else v  # noqa: E731
        if status == "error":
            out.append(("error", None, "error", None, None, None, None, 0, str(r.error)))
            continue
        rank = nothing(r.rank)
        out.append((str(r.profile), str(r.option), status, None if rank is None else int(rank),
                    None if rank is None else r.score, nothing(r.evidence_scheme), nothing(r.evidence_grade),
                    int(r.missing), None))
    return out


def same_rows(got, want):
    assert len(got) == len(want)
    for index, (g, w) in enumerate(zip(got, want)):
        if g[4] is not None and w[4] is not None:
            assert g[4] == pytest.approx(w[4]), (index, g, w)
            g, w = g[:4] + g[5:], w[:4] + w[5:]
        assert g == w, (index, g, w)


def test_without_a_cluster_the_local_scheduler_gives_the_same_frame(cohort):
    folder, _, lines = cohort
    frame = dd.from_pandas(pd.DataFrame({"profile": lines[:2000]}), npartitions=3)
    assert stimrank.dask._progress_client() is None  # runs before the cluster's tests
    with dask.config.set(scheduler="threads"):
        local = stimrank.dask.compute(stimrank.dask.evaluate(frame), progress=True)
    direct = stimrank.evaluate_frame(pd.DataFrame({"profile": lines[:2000]}))
    assert frame_rows(local) == frame_rows(direct)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_a_bag_of_json_lines_on_two_workers_equals_the_cli(client, cohort, expected):
    folder, _, lines = cohort
    bag = db.read_text(str(folder / "part*.jsonl"), blocksize=400_000)
    assert bag.npartitions > FILES  # several partitions a file, on both workers
    results = stimrank.dask.evaluate(bag)
    assert list(results.columns) == list(stimrank.FRAME_COLUMNS)
    assert {c: str(t) for c, t in results.dtypes.items()} == stimrank.FRAME_COLUMNS
    frame = results.compute()
    same_rows(frame_rows(frame), expected)
    errors = frame[frame["status"] == "error"]
    assert len(errors) == sum(1 for i in range(PROFILES) if i % 997 == 13 or i % 1999 == 5)
    assert (errors["error"].astype(str).str.startswith("/age: ") | errors["error"].astype(str).str.startswith(
        "profile: invalid JSON")).all()
    # Both workers took part.
    assert len(client.scheduler_info()["workers"]) == 2


def test_a_dask_dataframe_with_a_profile_column_equals_the_cli(client, cohort, expected):
    _, _, lines = cohort
    frame = dd.from_pandas(pd.DataFrame({"profile": lines}), npartitions=6)
    results = stimrank.dask.evaluate(frame, rules=stimrank.load())
    same_rows(frame_rows(results.compute()), expected)
    wide = stimrank.dask.evaluate(frame, form="wide").compute()
    assert list(wide.columns) == list(stimrank.dask.meta("wide").columns)
    assert len(wide) == PROFILES and wide["profile"].iloc[0] == "c00000"


def kill_once(lines, marker):
    """Kills the worker process running it, the first time only (the marker file says)."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return lines


def test_a_worker_killed_mid_run_gives_the_same_results(client, cohort, expected, tmp_path):
    folder, _, _ = cohort
    marker = str(tmp_path / "killed")
    bag = db.read_text(str(folder / "part*.jsonl"), blocksize=400_000)
    parts = bag.to_delayed(optimize_graph=False)
    # One partition kills its worker the first time it runs; Dask runs it again elsewhere.
    victim = len(parts) // 2
    parts[victim] = dask.delayed(kill_once)(parts[victim], marker)
    results = stimrank.dask.evaluate(db.from_delayed(parts))
    frame = results.compute()
    assert os.path.exists(marker)  # the kill happened
    same_rows(frame_rows(frame), expected)
    client.wait_for_workers(2, timeout=60)  # the nanny started a new worker


def test_results_written_in_order_to_csv_jsonl_and_sqlite(client, cohort, tmp_path):
    folder, _, _ = cohort
    bag = db.read_text(str(folder / "part0.jsonl"), blocksize=200_000)
    results = stimrank.dask.evaluate(bag)
    frame = results.compute().reset_index(drop=True)
    assert stimrank.dask.write(results, tmp_path / "out.csv", progress=True) == len(frame)
    csv = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, na_values=[""])
    assert list(csv["profile"].fillna("")) == list(frame["profile"].astype(str).replace("nan", ""))
    assert list(csv["status"]) == list(frame["status"].astype(str))
    assert stimrank.dask.write(results, tmp_path / "out.jsonl") == len(frame)
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["option"] for r in records] == [None if pd.isna(o) else o for o in frame["option"]]
    assert [r["rank"] for r in records] == [None if pd.isna(r) else int(r) for r in frame["rank"]]
    assert not (tmp_path / "out.jsonl.partial").exists()
    database = tmp_path / "cohort.sqlite"
    assert stimrank.dask.write(results, database) == len(frame)
    with sqlite3.connect(database) as connection:
        stored = connection.execute("SELECT option, status, rank, ruleset_digest FROM cohort_frame ORDER BY rowid").fetchall()
    assert [s[1] for s in stored] == list(frame["status"].astype(str))
    assert [s[2] for s in stored] == [None if pd.isna(r) else int(r) for r in frame["rank"]]
    assert {s[3] for s in stored} == {stimrank.load().digest}
    with pytest.raises(stimrank.StimrankError, match="already holds"):
        stimrank.dask.write(results, database)  # never mixed or duplicated
    pattern = stimrank.dask.write(results, str(tmp_path / "parts" / "part-*.csv"))
    assert len(pattern) == results.npartitions


def test_workers_refuse_rules_that_differ_from_the_digest(client, tmp_path):
    import shutil
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "knowledge", folder, ignore=shutil.ignore_patterns("tests"))
    evaluator = stimrank.Evaluator(folder)
    spinal = folder / "spinal.rules"
    spinal.write_text(spinal.read_text() + "\n// edited after the Evaluator was made\n")
    frame = dd.from_pandas(pd.DataFrame({"profile": [json.dumps({"id": "w", "age": 60})] * 4}), npartitions=2)
    with pytest.raises(stimrank.StimrankError, match="refusing to evaluate with other rules"):
        stimrank.dask.evaluate(frame, rules=evaluator).compute()


def test_bad_collections_are_clear_errors():
    with pytest.raises(TypeError, match="Dask DataFrame or a Dask Bag"):
        stimrank.dask.evaluate([{"id": "x"}])
    with pytest.raises(ValueError):
        stimrank.dask.evaluate(db.from_sequence(["{}"]), form="tall")


def test_the_cohort_notebook_runs_on_a_local_cluster(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(tmp_path),
                    "--name", "stimrank", "--display-name", "Python 3 (stimrank)"],
                   check=True, capture_output=True)
    os.environ["JUPYTER_PATH"] = str(tmp_path / "share" / "jupyter")
    notebook = nbformat.read(ROOT / "examples" / "notebooks" / "cohort_dask.ipynb", as_version=4)
    assert notebook.metadata.kernelspec.name == "stimrank"
    nbclient.NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 2, "both figures inline"
    text = "\n".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "Completed" in text or "100%" in text  # Dask's progress bar
    moved = [line for line in text.splitlines() if "get another leading option" in line]
    assert moved and int(moved[0].split()[0]) > 0  # the changed ranking moves someone
