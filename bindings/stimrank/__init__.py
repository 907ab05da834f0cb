"""stimrank: ranked, explained neuromodulation options for chronic neuropathic pain.

Load a rule set once, then evaluate patient profiles::

    import stimrank
    rs = stimrank.load()                      # the shipped knowledge base
    res = rs.evaluate({"id": "p1", "age": 70, "conditions": ["postherpetic_neuralgia"]})
    res.ranking                               # ['tens_conventional', 'rtms_m1_hf', ...]
    print(res.explain())                      # readable text
    res.to_dict()                             # the result JSON as Python objects
    rs.evaluate_many(profiles)                # list of dicts, a DataFrame or a JSONL path; all cores
    stimrank.to_dataframe(results)            # tidy frame: one row per profile x option
    stimrank.evaluate_frame(df)               # a cohort DataFrame → the long frame (FRAME_COLUMNS)

Cohorts on a Dask cluster: ``import stimrank.dask`` (docs/scale-out.md).

Problems raise typed exceptions: :class:`RuleError` (a rule set with errors; its
``diagnostics`` carry file, line, column, code and message) and :class:`ProfileError`
(an invalid profile; its ``errors`` carry the JSON path and the message).
"""

from __future__ import annotations

import html as _html
import json as _json
import math as _math
import os as _os
from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Union

from . import _core

__version__ = _core.__version__
__all__ = [
    "load", "RuleSet", "Result", "RuleError", "ProfileError", "StimrankError", "Diagnostic",
    "FieldError", "to_dataframe", "default_rules_path", "AuditLog", "verify_audit", "publish", "versions",
    "run_batch", "from_fhir", "FhirMapping", "FhirNote", "evaluate_frame", "to_wide", "FRAME_COLUMNS",
    "Evaluator",
    "__version__",
]


class StimrankError(Exception):
    """Base class of stimrank's exceptions."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a rule file, at ``file:line:column``."""

    severity: str
    code: str
    file: str
    line: int
    column: int
    message: str
    hint: str = ""
    text: str = ""  # the formatted diagnostic, with the source line and a caret

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"


class RuleError(StimrankError):
    """The rule set could not be loaded; ``diagnostics`` lists every problem."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics: List[Diagnostic] = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        first = str(errors[0]) if errors else "the rule set has errors"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)


@dataclass(frozen=True)
class FieldError:
    """One problem in a profile: the JSON path and the message."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or 'profile'}: {self.message}"


class ProfileError(StimrankError, ValueError):
    """A profile does not follow the rule set's fact schema.

    ``errors`` lists every problem (``path``, ``message``); ``path`` is the first
    problem's JSON path; ``index`` is the profile's position in a batch (or None).
    """

    def __init__(self, errors: Sequence[FieldError], index: Optional[int] = None, profile_id: Optional[str] = None):
        self.errors: List[FieldError] = list(errors)
        self.index = index
        self.profile_id = profile_id
        self.path = self.errors[0].path if self.errors else ""
        where = f"profile {index}: " if index is not None else ""
        super().__init__(where + "; ".join(str(e) for e in self.errors))


def _diagnostics(raw: Iterable[Mapping[str, Any]]) -> List[Diagnostic]:
    return [Diagnostic(**d) for d in raw]


_PACKAGE_KNOWLEDGE = _os.path.join(_os.path.dirname(__file__), "knowledge")


def default_rules_path() -> str:
    """The shipped knowledge base: ``$STIMRANK_RULES``, the copy installed with the package,
    or the source tree's ``knowledge/``."""
    env = _os.environ.get("STIMRANK_RULES")
    if env:
        return env
    if _os.path.isdir(_PACKAGE_KNOWLEDGE):
        return _PACKAGE_KNOWLEDGE
    source = _os.path.join(_os.path.dirname(__file__), "..", "..", "knowledge")
    return _os.path.normpath(source)


def load(path: Optional[Union[str, _os.PathLike]] = None) -> "RuleSet":
    """Load and compile a rule set (a ``.rules`` file or a folder of them).

    With no path, loads the shipped knowledge base. Raises :class:`RuleError`
    listing every diagnostic when the rules have errors.
    """
    target = _os.fspath(path) if path is not None else default_rules_path()
    core, raw = _core.load(target)
    diagnostics = _diagnostics(raw)
    if core is None:
        raise RuleError(diagnostics)
    return RuleSet(core, diagnostics, path=target)


def _unicode_checked(text: str) -> str:
    """``text``, which the engine receives as UTF-8: a lone surrogate (what a bad decode
    leaves, ``"\\ud800"``) is a ProfileError, not pybind11's "incompatible function
    arguments". ASCII text (the usual profile) is known to be fine without a look."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ProfileError([FieldError("", "the profile is not valid Unicode text: a lone surrogate "
                                               f"(U+{ord(text[error.start]):04X}) at character {error.start + 1}")]) from None
    return text


def _non_finite_path(value: Any, path: str = "") -> Optional[str]:
    """The JSON path of the first infinite or NaN number in ``value``, if any."""
    if isinstance(value, float) and not _math.isfinite(value):
        return path
    if isinstance(value, Mapping):
        items: Iterable[Any] = ((str(k), v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        found = _non_finite_path(item, f"{path}/{key}")
        if found is not None:
            return found
    return None


def _profile_json(profile: Union[Mapping[str, Any], str, bytes]) -> str:
    if isinstance(profile, bytes):
        try:
            return profile.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProfileError([FieldError("", f"the profile is not UTF-8: the byte 0x{profile[error.start]:02X} "
                                               f"at byte {error.start + 1}")]) from None
    if isinstance(profile, str):
        return _unicode_checked(profile)
    if type(profile) is dict and _is_plain(profile):
        try:  # most dicts are JSON as they are: no cleaning walk
            text = _json.dumps(profile, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            pass  # numpy values, NaN in a list, deep nesting: the careful path below
        else:
            return _unicode_checked(text)
    if isinstance(profile, Mapping):
        try:
            cleaned = _clean(profile)
            text = _json.dumps(cleaned, ensure_ascii=False, allow_nan=False)
        except RecursionError:
            # Deeper than Python can walk, and far deeper than the engine reads (32).
            raise ProfileError([FieldError("", "the profile is nested too deeply to be read")]) from None
        except ValueError:  # an infinite number (NaN is a missing value, dropped above)
            raise ProfileError([FieldError(_non_finite_path(cleaned) or "",
                                           "expected a finite number, got infinity")]) from None
        return _unicode_checked(text)
    raise TypeError(f"a profile is a dict or a JSON string, not {type(profile).__name__}")


_PLAIN_TYPES = (str, int, bool, list)


def _check_threads(threads: Any) -> None:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads is 0 (one per core) or a positive number, not {threads!r}")


def _is_plain(profile: dict, depth: int = 0) -> bool:
    """True when _clean would leave the dict as it is: string keys without dots, and
    values that are strings, numbers (not NaN), booleans, lists or such dicts."""
    if depth > 32:
        return False
    for key, value in profile.items():
        if type(key) is not str or "." in key:
            return False
        kind = type(value)
        if kind in _PLAIN_TYPES:
            continue
        if kind is float:
            if value != value:
                return False
        elif kind is dict:
            if not _is_plain(value, depth + 1):
                return False
        else:
            return False
    return True


def _missing(value: Any) -> bool:
    """NaN/None/NA as pandas writes them for empty cells: absent, i.e. unknown."""
    if value is None:
        return True
    if isinstance(value, float) and _math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def _plain(value: Any) -> Any:
    """numpy scalars and arrays → Python values."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    if hasattr(value, "item") and not isinstance(value, (str, bytes, list, dict)):
        return value.item()
    return value


def _clean(profile: Mapping[str, Any]) -> dict:
    """Drops absent values and turns dotted keys ("pain.nrs") into nested objects."""
    out: dict = {}
    for key, value in profile.items():
        if not isinstance(value, (list, dict, tuple)) and _missing(value):
            continue
        value = _plain(value)
        if isinstance(value, Mapping):
            value = _clean(value)
        elif isinstance(value, tuple):
            value = list(value)
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


class Result:
    """The ranked, explained options for one profile.

    ``ranking`` is the ranked option ids in order; ``options`` every option's entry;
    ``to_dict()`` the whole result as in the JSON contract. A result from
    :meth:`RuleSet.evaluate_many` holds only its ranking and statuses until more is
    asked for; the explained entries are then made again from the profile (the same
    rules give the same result), so a large batch stays small in memory.
    """

    def __init__(self, core: "_core.Result"):
        self._core = core
        self._dict: Optional[dict] = None

    @property
    def profile(self) -> str:
        """The profile's id."""
        return self._core.profile

    def to_dict(self) -> dict:
        """The result as Python objects (contracts/README.md §3), from its JSON."""
        if self._dict is None:
            self._dict = _json.loads(self._core.to_json())
        return self._dict

    def to_json(self, indent: Optional[int] = None) -> str:
        """The result as JSON, byte for byte what ``stimrank evaluate`` prints."""
        return self._core.to_json(-1 if indent is None else indent)

    @property
    def options(self) -> List[dict]:
        """Every option's entry (as in ``to_dict()["options"]``): ranked first in rank
        order, then the rest."""
        return self.to_dict()["options"]

    @property
    def ranking(self) -> List[str]:
        """The ids of the ranked options (recommended or consider), best first."""
        return self._core.ranking()

    @property
    def statuses(self) -> List[tuple]:
        """``(option, status, rank, score)`` for every option, in the order of ``options``;
        rank and score are None for an option that is not ranked."""
        return self._core.statuses()

    @property
    def warnings(self) -> List[str]:
        return self._core.warnings()

    def option(self, option_id: str) -> dict:
        """One option's entry, by id."""
        for o in self.options:
            if o["option"] == option_id:
                return o
        raise KeyError(option_id)

    def explain(self) -> str:
        """A readable account: ranked options with grade and reason, the others with why."""
        return self._core.to_text()

    def __repr__(self) -> str:
        top = ", ".join(self.ranking[:3]) or "nothing ranked"
        return f"<stimrank.Result {self.profile}: {top}>"

    def _repr_html_(self) -> str:
        colours = {"recommended": "#d4edda", "consider": "#fff3cd", "excluded": "#f8d7da",
                   "research_only": "#e2e3e5", "not_indicated": "#ffffff"}
        rows = []
        for o in self.options:
            grade = "; ".join(
                e["scheme"] + "(" + ", ".join(f"{k} {v}" for k, v in e.items()
                                               if k not in {"rule", "scheme", "weight", "condition", "source",
                                                            "doi", "tags", "unverified"}) + ")"
                + (" unverified" if e["unverified"] else "")
                for e in o["evidence"])
            rows.append(
                f'<tr style="background:{colours.get(o["status"], "#fff")}">'
                f'<td>{"" if o["rank"] is None else o["rank"]}</td>'
                f'<td><b>{_html.escape(o["option"])}</b><br><small>{_html.escape(o["title"])}</small></td>'
                f'<td>{_html.escape(o["status"])}</td><td>{_html.escape(grade)}</td>'
                f'<td>{_html.escape(o["summary"])}</td>'
                f'<td><small>{_html.escape(", ".join(o["missing"]))}</small></td></tr>')
        return (f"<div><b>stimrank</b> · profile {_html.escape(self.profile)}"
                "<table><thead><tr><th>rank</th><th>option</th><th>status</th><th>evidence</th>"
                "<th>why</th><th>missing data</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


class RuleSet:
    """A compiled rule set. Immutable; safe to share between threads."""

    def __init__(self, core: "_core.RuleSet", diagnostics: Sequence[Diagnostic] = (), path: Optional[str] = None):
        self._core = core
        self.diagnostics: List[Diagnostic] = list(diagnostics)
        self.path = path  # where it was loaded from (a file, a folder or a db: reference)

    name = property(lambda self: self._core.name, doc="The rule set's name.")
    version = property(lambda self: self._core.version, doc="The rule set's version.")
    digest = property(lambda self: self._core.digest, doc="sha256 of the rule files.")

    @property
    def option_ids(self) -> List[str]:
        return self._core.option_ids()

    @property
    def warnings(self) -> List[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def evaluate(self, profile: Union[Mapping[str, Any], str, bytes], *, audit: Optional["AuditLog"] = None) -> Result:
        """Evaluate one profile (a dict or a JSON string). Raises :class:`ProfileError`.

        With ``audit``, appends a tamper-evident record of the evaluation to that log.
        """
        text = _profile_json(profile)
        evaluation = self._core.evaluate(text)
        if not evaluation.ok:
            raise ProfileError([FieldError(p, m) for p, m in evaluation.errors])
        if audit is not None:
            audit._append(evaluation.result, text)
        return Result(evaluation.result)

    def evaluate_fhir(self, bundle: Union[Mapping[str, Any], str, bytes], as_of: Optional[str] = None) -> Result:
        """Evaluate a FHIR R4 Bundle (a dict or JSON text) for one patient.

        ``as_of`` (``YYYY-MM-DD``, default today in UTC) is the date the record is read at:
        ages, what is current, nothing dated after it.
        Raises :class:`ProfileError` with FHIR paths when the bundle cannot be mapped.
        """
        evaluation = self._core.evaluate_fhir(_bundle_json(bundle), _as_of(as_of))
        if not evaluation.ok:
            raise ProfileError([FieldError(p, m) for p, m in evaluation.errors])
        return Result(evaluation.result)

    def from_fhir(self, bundle: Union[Mapping[str, Any], str, bytes], as_of: Optional[str] = None) -> "FhirMapping":
        """The profile a FHIR R4 Bundle gives for this rule set, with what was used and ignored."""
        return _mapping(self._core.from_fhir(_bundle_json(bundle), _as_of(as_of)))

    def evaluate_many(self, profiles: Any, *, threads: int = 0, errors: str = "raise",
                      audit: Optional["AuditLog"] = None) -> List[Any]:
        """Evaluate a batch on every core (``threads=0``), without holding the GIL.

        ``profiles`` is a list of dicts or JSON strings, a pandas DataFrame (one row per
        profile; dotted columns such as ``pain.nrs`` become nested fields; empty cells
        are unknown), or the path of a JSON Lines file. With ``errors="raise"`` an
        invalid profile raises :class:`ProfileError` (naming every invalid one); with
        ``errors="return"`` its place in the list holds the ProfileError instead.
        """
        if errors not in ("raise", "return"):
            raise ValueError('errors is "raise" or "return"')
        _check_threads(threads)
        items = self._batch_texts(profiles)
        # A profile Python could not turn into JSON keeps its error and its place.
        texts = [item if isinstance(item, str) else "" for item in items]
        evaluations = self._core.evaluate_many(texts, threads)
        out: List[Any] = []
        failures: List[ProfileError] = []
        for index, evaluation in enumerate(evaluations):
            if type(evaluation) is not list:  # a _core.Result
                if audit is not None:
                    audit._append(evaluation, texts[index])
                out.append(Result(evaluation))
                continue
            if isinstance(items[index], ProfileError):
                error = ProfileError(items[index].errors, index=index)
            else:
                error = ProfileError([FieldError(p, m) for p, m in evaluation], index=index)
            failures.append(error)
            out.append(error)
        if failures and errors == "raise":
            error = ProfileError(failures[0].errors, index=failures[0].index)
            error.failures = failures  # every invalid profile, in order
            if len(failures) > 1:
                error.args = (f"{error.args[0]} (and {len(failures) - 1} more invalid profiles)",)
            raise error
        return out

    def evaluate_frame(self, frame: Any, *, threads: int = 0):
        """Evaluate a DataFrame of profiles and return the tidy result frame."""
        return to_dataframe(self.evaluate_many(frame, threads=threads))

    def tables(self, html: bool = False) -> str:
        """The rule set as evidence tables (Markdown, or HTML)."""
        return self._core.tables(html)

    def _batch_texts(self, profiles: Any) -> List[Union[str, ProfileError]]:
        if isinstance(profiles, (str, _os.PathLike)):
            with open(profiles, encoding="utf-8") as handle:
                return [line for line in (l.rstrip("\r\n") for l in handle) if line.strip()]
        if hasattr(profiles, "to_dict") and hasattr(profiles, "columns"):
            profiles = profiles.to_dict(orient="records")

        def text_or_error(profile: Any) -> Union[str, ProfileError]:
            try:
                return _profile_json(profile)
            except ProfileError as error:
                return error

        return [text_or_error(p) for p in profiles]

    def __repr__(self) -> str:
        return f"<stimrank.RuleSet {self.name} {self.version}: {len(self.option_ids)} options>"


@dataclass(frozen=True)
class FhirNote:
    """One resource or coding of a FHIR record: where, which, and what became of it."""
    path: str
    resource: str
    what: str


@dataclass(frozen=True)
class FhirMapping:
    """A FHIR record mapped to a profile: ``profile`` (a dict), ``used``, ``ignored``, ``warnings``."""
    profile: dict
    used: List[FhirNote]
    ignored: List[FhirNote]
    warnings: List[str]


def _bundle_json(bundle: Union[Mapping[str, Any], str, bytes]) -> str:
    if isinstance(bundle, bytes):
        return bundle.decode("utf-8", errors="replace")
    if isinstance(bundle, str):
        return bundle
    try:
        return _json.dumps(bundle)
    except RecursionError:
        # Deeper than Python can walk, and deeper than the mapper reads (1,024 levels).
        raise ProfileError([FieldError("Bundle", "the bundle is nested too deeply to be read")]) from None


def _as_of(as_of: Optional[str]) -> str:
    if as_of is None:
        import datetime
        return datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return str(as_of)


def _mapping(raw: Any) -> FhirMapping:
    profile, used, ignored, warnings, errors = raw
    if errors:
        raise ProfileError([FieldError(p, m) for p, m in errors])
    return FhirMapping(_json.loads(profile), [FhirNote(*n) for n in used],
                       [FhirNote(*n) for n in ignored], list(warnings))


def from_fhir(bundle: Union[Mapping[str, Any], str, bytes], as_of: Optional[str] = None,
              rules: Optional["RuleSet"] = None) -> FhirMapping:
    """The profile a FHIR R4 Bundle gives (for ``rules``, default the shipped knowledge base).

    ``as_of`` (``YYYY-MM-DD``, default today in UTC) is the date the record is read at:
    ages, what is current, nothing dated after it.
    Raises :class:`ProfileError` with FHIR paths when the bundle cannot be mapped.
    """
    return (rules if rules is not None else load()).from_fhir(bundle, as_of)


class AuditLog:
    """A tamper-evident audit trail in SQLite: pass it as ``audit=`` to evaluate.

    Each record holds the time, the rule-set digest, the patient id as HMAC-SHA256
    under ``key`` (at least 16 bytes; never stored), a digest of the profile and the
    result; records form a hash chain that :func:`verify_audit` checks.
    """

    def __init__(self, path: Union[str, _os.PathLike], key: Union[str, bytes]):
        key_text = key.decode("latin-1") if isinstance(key, bytes) else key
        self._core, error = _core.open_audit(_os.fspath(path), key_text)
        if self._core is None:
            raise StimrankError(f"cannot open the audit log: {error}")
        self.path = _os.fspath(path)

    def _append(self, core_result: "_core.Result", profile_json: str) -> None:
        ok, error = self._core.append(core_result, profile_json)
        if not ok:
            raise StimrankError(f"the audit record could not be written: {error}")


def verify_audit(path: Union[str, _os.PathLike]) -> dict:
    """Check an audit log's hash chain: ``{"ok", "records", "first_broken", "message"}``."""
    return _core.verify_audit(_os.fspath(path))


def publish(db: Union[str, _os.PathLike], rules: Optional[Union[str, _os.PathLike]] = None, *,
            author: str = "", note: str = "") -> dict:
    """Store a rule set (default: the shipped one) in a registry database.

    Publishing the same content twice is a no-op; the same name and version with other
    content is refused (raises :class:`StimrankError`). Load it back with
    ``stimrank.load("db:FILE#name@version")``.
    """
    out = _core.publish(_os.fspath(db), _os.fspath(rules) if rules is not None else default_rules_path(),
                        author, note)
    if not out["ok"]:
        raise StimrankError(out["error"])
    return out


def versions(db: Union[str, _os.PathLike]) -> List[dict]:
    """The rule sets stored in a registry database."""
    entries, error = _core.versions(_os.fspath(db))
    if error:
        raise StimrankError(error)
    return entries


def run_batch(rules: RuleSet, db: Union[str, _os.PathLike], *, threads: int = 0, chunk: int = 1000,
              store: str = "summary") -> dict:
    """Evaluate the cohort in table ``profiles(id, profile)`` of ``db`` into ``results``
    (resumable; see docs/storage.md). ``store="summary"`` keeps each option's status,
    rank, score, leading evidence and missing count per profile; ``"full"`` the whole
    explained result. Returns the counts; raises on failure (an empty cohort too)."""
    _check_threads(threads)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk is a positive number of profiles, not {chunk!r}")
    out = _core.run_batch(rules._core, _os.fspath(db), threads, chunk, store)
    if not out["ok"]:
        raise StimrankError(out["error"])
    return out


# The long frame's columns, in order, with their pandas dtypes (also Dask's `meta`).
FRAME_COLUMNS = {
    "profile": "category", "option": "category", "status": "category", "rank": "Int64",
    "score": "float64", "evidence_scheme": "category", "evidence_grade": "category",
    "missing": "int32", "rules": "category", "error": "category",
}


def _absolute_rules_path(path: str) -> str:
    """A worker may run in another folder: file paths (and a db: reference's file)
    are made absolute before they travel."""
    if path.startswith("db:"):
        file, sep, rest = path[3:].partition("#")
        return "db:" + _os.path.abspath(file) + sep + rest
    return _os.path.abspath(path)


class Evaluator:
    """A rule set by reference, for workers: picklable, compiled once per process.

    It holds the rule set's path (a file, a folder, or ``db:FILE#name@version``) and
    the digest it had when the Evaluator was made. Unpickled in another process it
    loads the rules there once (kept for every later Evaluator of the same rules) and
    refuses, with :class:`StimrankError`, when they do not hash to that digest: a
    worker never evaluates with different rules than the caller meant.
    """

    _loaded: dict = {}  # (path, digest) → RuleSet, per process

    def __init__(self, rules: Optional[Union[str, _os.PathLike, "RuleSet"]] = None):
        if isinstance(rules, RuleSet):
            if rules.path is None:
                raise StimrankError("this rule set was not loaded from a path: give the Evaluator its path")
            self.path, ruleset = rules.path, rules
        else:
            self.path = _absolute_rules_path(_os.fspath(rules) if rules is not None else default_rules_path())
            ruleset = load(self.path)
        self.digest = ruleset.digest
        Evaluator._loaded[(self.path, self.digest)] = ruleset

    @property
    def ruleset(self) -> "RuleSet":
        key = (self.path, self.digest)
        ruleset = Evaluator._loaded.get(key)
        if ruleset is None:
            ruleset = load(self.path)
            if ruleset.digest != self.digest:
                raise StimrankError(
                    f"the rule set at {self.path} has digest {ruleset.digest} here, not the "
                    f"{self.digest} this Evaluator was made with: refusing to evaluate with other rules")
            Evaluator._loaded[key] = ruleset
        return ruleset

    def __getstate__(self) -> dict:
        return {"path": self.path, "digest": self.digest}

    def __setstate__(self, state: dict) -> None:
        self.path, self.digest = state["path"], state["digest"]
        self.ruleset  # load and check now, on the worker, not at the first profile

    def evaluate(self, profile: Any) -> "Result":
        return self.ruleset.evaluate(profile)

    def evaluate_frame(self, frame: Any, *, threads: int = 0, form: str = "long"):
        return evaluate_frame(frame, self.ruleset, threads=threads, form=form)

    def __repr__(self) -> str:
        return f"<stimrank.Evaluator {self.path} {self.digest[:19]}…>"


def _frame_rules(rules: Any) -> "RuleSet":
    if rules is None:
        return load()
    if isinstance(rules, RuleSet):
        return rules
    if isinstance(rules, Evaluator):
        return rules.ruleset
    return load(rules)


def evaluate_frame(frame: Any, rules: Any = None, *, threads: int = 0, form: str = "long"):
    """Evaluate a cohort into a DataFrame (docs/python.md, "DataFrames").

    ``frame``: a pandas DataFrame with a ``profile`` column (dicts or JSON text), or
    one profile per row (dotted columns such as ``pain.nrs`` become nested fields), or
    a list of dicts / JSON strings. ``rules``: None (the shipped knowledge base), a
    path, or a :class:`RuleSet`. ``form="long"`` gives one row per profile and option
    with the columns of :data:`FRAME_COLUMNS`; an invalid profile is one row with no
    option, status ``error`` and its errors (path: message) in ``error``: never
    raised. ``form="wide"`` gives one row per profile (:func:`to_wide`).
    """
    import pandas as pd
    if form not in ("long", "wide"):
        raise ValueError('form is "long" or "wide"')
    _check_threads(threads)
    ruleset = _frame_rules(rules)
    if hasattr(frame, "columns") and "profile" in frame.columns:
        items = list(frame["profile"])
    else:
        items = frame
    made = ruleset._batch_texts(items)
    texts = [item if isinstance(item, str) else "" for item in made]
    # A profile Python could not make into JSON keeps its own error in its row.
    preset = [str(item) if isinstance(item, ProfileError) else "" for item in made]
    columns = ruleset._core.evaluate_columns(texts, threads, preset if any(preset) else [])
    data = {}
    for name, dtype in FRAME_COLUMNS.items():
        value = columns[name]
        if dtype == "category":
            codes, categories = value
            data[name] = pd.Categorical.from_codes(codes, categories=categories)
        elif dtype == "Int64":  # (values, mask of "no rank")
            values, unranked = value
            data[name] = pd.arrays.IntegerArray(values, unranked)
        else:
            data[name] = pd.Series(value, dtype=dtype).values
    long = pd.DataFrame(data, columns=list(FRAME_COLUMNS))
    return long if form == "long" else to_wide(long)


def to_wide(long):
    """One row per profile from the long frame (as evaluate_frame made it, rows in
    order): ``profile``, ``top_option`` (rank 1, or none), one column per option with
    its status, and ``error`` for an invalid profile. Profiles are told apart by
    position, so repeated or missing ids (an invalid line has none) stay separate rows."""
    import numpy as np
    import pandas as pd
    is_error = (long["status"].astype(object) == "error").to_numpy()
    options = long.loc[~is_error, "option"]
    width = int(options.nunique())  # a valid profile has one row per option
    sizes, at = [], 0
    while at < len(long):
        size = 1 if is_error[at] else width
        sizes.append(size)
        at += size
    block = np.repeat(np.arange(len(sizes)), sizes)
    starts = np.cumsum([0] + sizes[:-1]).astype(np.int64)
    frame = pd.DataFrame({"block": block, "option": long["option"].astype(object).to_numpy(),
                          "status": long["status"].astype(object).to_numpy(),
                          "rank": long["rank"].to_numpy(dtype=object, na_value=None)})
    ok = frame[~is_error]
    statuses = ok.pivot(index="block", columns="option", values="status")
    statuses.columns = [str(c) for c in statuses.columns]
    top = ok[ok["rank"] == 1].set_index("block")["option"]
    wide = pd.DataFrame({"profile": long["profile"].astype(object).to_numpy()[starts]},
                        index=pd.RangeIndex(len(sizes)))
    wide["top_option"] = top.reindex(wide.index).astype(object)
    wide = wide.join(statuses.astype(object))
    errors = long["error"].astype(object).to_numpy()[starts]
    wide["error"] = np.where(is_error[starts], errors, None)
    return wide


def to_dataframe(results: Iterable[Union[Result, ProfileError]]):
    """A tidy pandas DataFrame: one row per profile x option.

    Columns: profile, option, title, family, invasiveness, status, rank, score,
    grade, summary, reasons, missing. Invalid profiles (ProfileError entries from
    ``errors="return"``) are skipped. Needs pandas (Debian: python3-pandas).
    """
    try:
        import pandas as pd
    except ImportError as exc:  # pandas stays optional
        raise ImportError("to_dataframe needs pandas (Debian: apt install python3-pandas)") from exc
    names = ["profile", "option", "title", "family", "invasiveness", "status", "rank", "score", "grade",
             "summary", "reasons", "missing"]
    columns = _core.tidy_columns([r._core for r in results if isinstance(r, Result)])
    frame = pd.DataFrame(dict(zip(names, columns)), columns=names)
    frame["rank"] = frame["rank"].astype("Int64")
    return frame
