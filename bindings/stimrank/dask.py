"""Cohorts on Dask: the same evaluation on a laptop's cores or a cluster's workers.

    import stimrank.dask
    import dask.bag as db
    results = stimrank.dask.evaluate(db.read_text("cohort/*.jsonl"))    # lazy Dask DataFrame
    stimrank.dask.write(results, "results.csv", progress=True)          # or .jsonl, .sqlite
    frame = stimrank.dask.compute(results, progress=True)               # a pandas DataFrame

``evaluate`` takes a Dask DataFrame (a ``profile`` column of dicts or JSON text, or one
profile per row, as :func:`stimrank.evaluate_frame` reads a pandas one) or a Dask Bag
of JSON Lines text; it returns a Dask DataFrame with the columns of
:data:`stimrank.FRAME_COLUMNS` (its ``meta`` is :func:`meta`). The rule set travels to
the workers as a :class:`stimrank.Evaluator` (a path and a digest): each worker process
compiles it once and refuses rules that do not hash to the digest. Invalid profiles
are rows with status ``error``, never a failed task. docs/scale-out.md has the laptop,
cluster and Spark recipes.
"""

from __future__ import annotations

import os as _os
import sqlite3 as _sqlite3
from typing import Any, Optional, Union

import dask as _dask
import dask.bag as _bag
import dask.dataframe as _dd
import pandas as _pd

import stimrank as _stimrank

__all__ = ["evaluate", "meta", "compute", "write", "evaluator"]


def evaluator(rules: Any = None) -> "_stimrank.Evaluator":
    """The picklable rule set for workers: None (the shipped knowledge base), a path
    or ``db:`` reference, a loaded :class:`stimrank.RuleSet`, or an Evaluator."""
    if isinstance(rules, _stimrank.Evaluator):
        return rules
    return _stimrank.Evaluator(rules)


def meta(form: str = "long", rules: Any = None) -> _pd.DataFrame:
    """The empty frame whose columns and dtypes every partition has (Dask's ``meta``).
    The wide form's columns depend on the rule set's options."""
    if form == "long":
        return _pd.DataFrame({name: _pd.Series(dtype=dtype) for name, dtype in _stimrank.FRAME_COLUMNS.items()})
    if form == "wide":
        options = evaluator(rules).ruleset.option_ids
        columns = {"profile": object, "top_option": object}
        columns.update({option: object for option in options})
        columns["error"] = object
        return _pd.DataFrame({name: _pd.Series(dtype=dtype) for name, dtype in columns.items()})
    raise ValueError('form is "long" or "wide"')


def _evaluate_partition(part: Any, ev: "_stimrank.Evaluator", form: str, threads: int) -> _pd.DataFrame:
    frame = _stimrank.evaluate_frame(part, ev.ruleset, threads=threads)
    if form == "wide":
        wide = _stimrank.to_wide(frame)
        return wide.reindex(columns=list(meta("wide", ev).columns))
    return frame


def _lines(part: Any) -> list:
    # A Bag partition of read_text: lines with their line ends; blank lines are skipped,
    # as `stimrank evaluate --jsonl` skips them.
    return [line.rstrip("\r\n") for line in part if line.strip()]


def evaluate(collection: Any, rules: Any = None, *, form: str = "long", threads: int = 1) -> "_dd.DataFrame":
    """Evaluate a Dask DataFrame or a Dask Bag of JSON Lines into a (lazy) Dask DataFrame.

    ``rules``: None (the shipped knowledge base), a path, a ``db:`` reference, a
    :class:`stimrank.RuleSet` loaded from a path, or a :class:`stimrank.Evaluator`.
    ``form``: ``"long"`` (one row per profile and option, :data:`stimrank.FRAME_COLUMNS`;
    each partition's categories are joined when partitions are put together) or
    ``"wide"`` (one row per profile). ``threads``:
    threads per partition (1: Dask's workers are the parallelism). Partitions keep their
    order and each keeps its profiles' order, so the result reads in input order.
    """
    if form not in ("long", "wide"):
        raise ValueError('form is "long" or "wide"')
    ev = evaluator(rules)
    out_meta = meta(form, ev)
    if isinstance(collection, _dd.DataFrame):
        out = collection.map_partitions(_evaluate_partition, ev, form, threads, meta=out_meta,
                                        enforce_metadata=False, align_dataframes=False)
    elif isinstance(collection, _bag.Bag):
        parts = [_dask.delayed(_evaluate_partition)(_dask.delayed(_lines)(part), ev, form, threads)
                 for part in collection.to_delayed(optimize_graph=False)]
        out = _dd.from_delayed(parts, meta=out_meta, verify_meta=False)
    else:
        raise TypeError(f"stimrank.dask.evaluate takes a Dask DataFrame or a Dask Bag, not {type(collection).__name__}")
    out._stimrank_digest = ev.digest  # for write(): what the SQLite rows were made with
    return out


def _progress_client():
    try:
        from distributed import get_client
        return get_client()
    except (ImportError, ValueError):
        return None


def _run(task: Any, progress: bool) -> Any:
    """Computes a Dask collection or Delayed, with Dask's own progress bar when asked:
    ``distributed.progress`` on a cluster, ``dask.diagnostics.ProgressBar`` otherwise
    (text, in a terminal and in a notebook)."""
    client = _progress_client()
    if client is not None:
        future = client.compute(task)  # a list of tasks gives a list of futures
        if progress:
            from distributed import progress as _distributed_progress
            _distributed_progress(future, notebook=False)
        return client.gather(future)
    if progress:
        from dask.diagnostics import ProgressBar
        with ProgressBar():
            return _dask.compute(task)[0]
    return _dask.compute(task)[0]


def compute(results: "_dd.DataFrame", *, progress: bool = False) -> _pd.DataFrame:
    """The whole result as one pandas DataFrame, with Dask's progress bar when asked."""
    return _run(results, progress)


_SQLITE_COLUMNS = ("profile TEXT, option TEXT, status TEXT, rank INTEGER, score REAL, evidence_scheme TEXT,"
                   " evidence_grade TEXT, missing INTEGER, rules TEXT, error TEXT, ruleset_digest TEXT NOT NULL")


def _append(rows_before: int, frame: _pd.DataFrame, path: str, kind: str, first: bool, digest: str) -> int:
    """Appends one partition to the file (or the SQLite table); returns the rows so far.
    Each call depends on the previous one, so partitions land in order."""
    if kind == "csv":
        with open(path, "a", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False, header=first)
    elif kind == "jsonl":
        if len(frame):
            text = frame.to_json(orient="records", lines=True, force_ascii=False)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text if text.endswith("\n") else text + "\n")
    else:
        columns = list(frame.columns)
        records = [tuple(None if _pd.isna(v) else (int(v) if name in ("rank", "missing") else v)
                         for name, v in zip(columns, row)) + (digest,)
                   for row in frame.itertuples(index=False, name=None)]
        connection = _sqlite3.connect(path, timeout=60)
        try:
            with connection:  # one transaction a partition: a kill leaves whole partitions
                connection.executemany(
                    f"INSERT INTO cohort_frame ({', '.join(columns)}, ruleset_digest)"
                    f" VALUES ({', '.join('?' * (len(columns) + 1))})", records)
        finally:
            connection.close()
    return rows_before + len(frame)


def _prepare_sqlite(path: str, digest: str) -> None:
    connection = _sqlite3.connect(path, timeout=60)
    try:
        with connection:
            connection.execute(f"CREATE TABLE IF NOT EXISTS cohort_frame ({_SQLITE_COLUMNS})")
            connection.execute("CREATE INDEX IF NOT EXISTS cohort_frame_profile ON cohort_frame (profile)")
        (count,) = connection.execute("SELECT COUNT(*) FROM cohort_frame").fetchone()
        if count:
            raise _stimrank.StimrankError(
                f"{path} already holds {count} rows in cohort_frame: write to a new database, or"
                " DELETE FROM cohort_frame first (results are never mixed or duplicated)")
    finally:
        connection.close()


def write(results: "_dd.DataFrame", target: Union[str, _os.PathLike], *, progress: bool = False) -> Any:
    """Write a result frame of :func:`evaluate` to ``target``, in input order.

    ``*.csv`` (with a header) and ``*.jsonl`` (one row an object): one file, written
    whole under a temporary name and then renamed, so a failed run leaves no partial
    file; returns the rows written. ``*.sqlite``/``*.db``: the long form into the table
    ``cohort_frame`` (its columns and ``ruleset_digest``) of that database, one
    transaction a partition, refused when the table already has rows; returns the rows
    written. The workers append the partitions one after another, so the target must
    be on a file system they share with this process (one machine: a LocalCluster, or
    no cluster). A target with ``*`` goes to Dask's own writers, one file a partition
    (``results/part-*.csv``), and returns their names.
    """
    target = _os.fspath(target)
    lower = target.lower()
    if "*" in target:
        if lower.endswith(".csv"):
            return _run(results.to_csv(target, index=False, compute=False), progress)
        if lower.endswith((".jsonl", ".ndjson", ".json")):
            return _run(results.to_json(target, orient="records", lines=True, compute=False), progress)
        raise ValueError("a target with * ends with .csv or .jsonl")
    if lower.endswith((".sqlite", ".db", ".sqlite3")):
        kind = "sqlite"
    elif lower.endswith(".csv"):
        kind = "csv"
    elif lower.endswith((".jsonl", ".ndjson")):
        kind = "jsonl"
    else:
        raise ValueError("write to .csv, .jsonl or .sqlite (or a pattern with * for a file a partition)")
    digest = getattr(results, "_stimrank_digest", None)
    if kind == "sqlite":
        if list(results.columns) != list(_stimrank.FRAME_COLUMNS):
            raise ValueError("SQLite takes the long form of stimrank.dask.evaluate")
        if digest is None:
            raise ValueError("SQLite takes the frame stimrank.dask.evaluate returned (it carries the rules' digest)")
        _prepare_sqlite(target, digest)
        path = _os.path.abspath(target)
    else:
        path = _os.path.abspath(target + ".partial")
        open(path, "w").close()
    rows: Any = 0
    for index, part in enumerate(results.to_delayed(optimize_graph=False)):
        rows = _dask.delayed(_append)(rows, part, path, kind, index == 0, digest or "")
    try:
        written = _run(rows, progress) if not isinstance(rows, int) else 0
    except BaseException:
        if kind != "sqlite" and _os.path.exists(path):
            _os.remove(path)
        raise
    if kind != "sqlite":
        _os.replace(path, target)  # a complete file or none
    return written
