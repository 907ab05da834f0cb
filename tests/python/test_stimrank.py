"""pytest suite for the `stimrank` Python package (installed in a virtual environment).

STIMRANK_CLI points at build/stimrank, so results can be compared with the CLI.
"""
import json
import os
import pathlib
import subprocess
import sys
import threading

import pytest

import stimrank

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROFILES = sorted((ROOT / "examples" / "profiles").glob("*.json"))
CLI = os.environ.get("STIMRANK_CLI", str(ROOT / "build" / "stimrank"))


@pytest.fixture(scope="module")
def rs():
    return stimrank.load()


def profile(i, **extra):
    p = {"id": f"p{i}", "age": 30 + i % 60, "conditions": ["postherpetic_neuralgia"],
         "pain": {"nrs": 5 + i % 5, "distribution": "focal"}, "devices": []}
    p.update(extra)
    return p


# ---- loading

def test_load_shipped_knowledge_base(rs):
    assert rs.name == "neuromodulation-neuropathic-pain"
    assert rs.digest.startswith("sha256:") and len(rs.digest) == 71
    assert len(rs.option_ids) == 21
    assert "rtms_m1_hf" in rs.option_ids and "snrs_transspinal" in rs.option_ids


def test_installed_package_ships_knowledge_and_stubs():
    package = pathlib.Path(stimrank.__file__).parent
    assert (package / "__init__.pyi").exists()
    assert (package / "py.typed").exists()
    if "site-packages" in str(package):
        assert (package / "knowledge" / "neuromodulation.rules").exists()


def test_syntax_error_raises_rule_error_with_line_and_column(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text('ruleset "x" version "1"\nsource s "S" doi "10.1/s";\nfacts { age int; }\n')
    with pytest.raises(stimrank.RuleError) as info:
        stimrank.load(bad)
    diagnostics = [d for d in info.value.diagnostics if d.severity == "error"]
    assert [(d.line, d.column, d.code) for d in diagnostics] == [(1, 24, "E012"), (3, 13, "E034")]
    assert diagnostics[0].file.endswith("bad.rules")
    assert diagnostics[0].message == "expected `;` after the ruleset header, found `source`"
    assert "^" in diagnostics[0].text
    assert "bad.rules:1:24" in str(info.value)


def test_semantic_errors_and_missing_files_raise_rule_error(tmp_path):
    with pytest.raises(stimrank.RuleError) as info:
        stimrank.load(tmp_path / "nope.rules")
    assert info.value.diagnostics[0].code == "E105"
    semantic = tmp_path / "semantic.rules"
    semantic.write_text('ruleset "x" version "1";\nsource s "S" doi "10.1/s";\nfacts { age: int; }\n'
                        'option o "O" { invasiveness noninvasive;\n'
                        '  indication a when agee >= 3 weight 1 source s because "a"; }\n')
    with pytest.raises(stimrank.RuleError) as info:
        stimrank.load(semantic)
    d = info.value.diagnostics[0]
    assert (d.code, d.line, d.column, d.hint) == ("E100", 5, 21, "did you mean `age`?")


# ---- one profile

def test_evaluate_dict_and_json_string_agree(rs):
    p = profile(1)
    from_dict = rs.evaluate(p)
    from_text = rs.evaluate(json.dumps(p))
    assert from_dict.to_json() == from_text.to_json()
    assert from_dict.ranking[0] == "tens_conventional"
    assert from_dict.profile == "p1"
    assert from_dict.to_dict()["profile"] == "p1"
    assert from_dict.option("tus")["status"] == "research_only"
    with pytest.raises(KeyError):
        from_dict.option("no_such_option")


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_results_identical_to_the_cli(rs, path):
    cli = subprocess.run([CLI, "evaluate", str(path)], capture_output=True, text=True, check=True).stdout
    assert rs.evaluate(path.read_text()).to_json() + "\n" == cli


def test_explain_and_html(rs):
    res = rs.evaluate(profile(2))
    text = res.explain()
    assert "ranked options" in text and "tens_conventional" in text
    page = res._repr_html_()
    assert page.startswith("<div>") and "<table>" in page and "rtms_m1_hf" in page
    assert "<script" not in page
    assert repr(res).startswith("<stimrank.Result p2:")


def test_profile_error_names_the_json_path(rs):
    with pytest.raises(stimrank.ProfileError) as info:
        rs.evaluate({"id": "x", "pain": {"nrs": "seven"}, "age": 200})
    error = info.value
    assert error.path == "/age"
    assert [(e.path, e.message) for e in error.errors] == [
        ("/age", "expected an integer from 0 to 130, got `200`"),
        ("/pain/nrs", 'expected a number from 0 to 10, got `"seven"`')]
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("bad", ["", "{", "[]", "null", b"\xff\xfe", '{"id": 5}', "x" * 100])
def test_bad_input_never_crashes(rs, bad):
    with pytest.raises(stimrank.ProfileError):
        rs.evaluate(bad)


def _nested(depth):
    profile = {"id": "deep"}
    node = profile
    for _ in range(depth):
        node["pain"] = {}
        node = node["pain"]
    return profile


def test_a_dict_nested_beyond_python_recursion_is_a_profile_error(rs):
    # Python cannot walk it into JSON: a ProfileError, as the engine gives for 33 levels.
    with pytest.raises(stimrank.ProfileError) as info:
        rs.evaluate(_nested(5000))
    assert [(e.path, e.message) for e in info.value.errors] == [
        ("", "the profile is nested too deeply to be read")]
    with pytest.raises(stimrank.ProfileError) as info:
        rs.evaluate(_nested(40))
    assert info.value.errors[0].message == "the profile is nested more than 32 levels deep"
    good = {"id": "ok", "age": 70, "conditions": ["postherpetic_neuralgia"]}
    out = rs.evaluate_many([good, _nested(5000), good], errors="return")
    assert isinstance(out[0], stimrank.Result) and isinstance(out[2], stimrank.Result)
    assert isinstance(out[1], stimrank.ProfileError) and out[1].index == 1
    with pytest.raises(stimrank.ProfileError) as info:
        rs.evaluate_many([good, _nested(5000)])
    assert info.value.index == 1


def test_text_python_cannot_pass_as_utf8_and_infinite_numbers_are_profile_errors(rs):
    # A lone surrogate (what a bad decode leaves) was pybind11's "incompatible function
    # arguments"; bytes that are not UTF-8 were replaced by U+FFFD without a word.
    cases = [({"id": "a\ud800"}, "", "a lone surrogate (U+D800) at character 10"),
             ('{"id": "\udfff"}', "", "a lone surrogate (U+DFFF) at character 9"),
             (b'{"id": "a\xff"}', "", "the profile is not UTF-8: the byte 0xFF at byte 10"),
             ({"id": "a", "age": float("inf")}, "/age", "expected a finite number, got infinity"),
             ({"id": "a", "pain": {"nrs": float("-inf")}}, "/pain/nrs", "expected a finite number, got infinity")]
    for profile, path, words in cases:
        with pytest.raises(stimrank.ProfileError) as info:
            rs.evaluate(profile)
        assert info.value.errors[0].path == path and words in info.value.errors[0].message, info.value
    # In a batch, each keeps its place; the others are answered.
    good = {"id": "ok", "age": 70}
    out = rs.evaluate_many([good, {"id": "a\ud800"}, good], errors="return")
    assert isinstance(out[0], stimrank.Result) and isinstance(out[2], stimrank.Result)
    assert isinstance(out[1], stimrank.ProfileError) and "lone surrogate" in str(out[1])
    # NaN is a missing value (as an empty DataFrame cell), not an error.
    assert rs.evaluate({"id": "n", "age": float("nan")}).profile == "n"
    for threads in (-1, 1.5, True):
        with pytest.raises(ValueError, match="threads is 0"):
            rs.evaluate_many([good], threads=threads)
    # In a frame, each keeps its reason in its error row.
    frame = stimrank.evaluate_frame([good, {"id": "i", "age": float("inf")}, '{"id": "\ud800"}'], rs)
    errors = list(frame.loc[frame["status"] == "error", "error"].astype(str))
    assert errors == ["/age: expected a finite number, got infinity",
                      "profile: the profile is not valid Unicode text: a lone surrogate (U+D800) at character 9"], errors


def test_wrong_python_type_is_a_type_error(rs):
    with pytest.raises(TypeError):
        rs.evaluate(42)


LATIN1_CHILD = r"""
import ctypes, json, locale, sys
import stimrank
locale.setlocale(locale.LC_CTYPE, "en_US.ISO-8859-1")
libc = ctypes.CDLL("libc.so.6")
# The locale took: the bytes of "a\u07f5" in UTF-8 (61 df b5) are all lower case letters in it.
assert all(libc.islower(b) for b in "a\u07f5".encode()), "ISO-8859-1 not in effect"
rs = stimrank.load()
answers = []
for conditions in (["postherpetic_neuralgia", "a\u07f5"], ["\u00e9t\u00e9"]):
    try:
        rs.evaluate({"id": "p", "conditions": conditions})
        answers.append("evaluated")
    except stimrank.ProfileError as e:
        answers.append([(x.path, x.message) for x in e.errors])
print(json.dumps(answers))
"""


def test_ids_are_read_alike_under_a_single_byte_locale(tmp_path):
    # Python sets LC_CTYPE from the environment; under ISO-8859-1 the <cctype>
    # classes call the bytes of UTF-8 letters lower case, and an id that is an error
    # in the CLI became an unknown concept (a warning) in a notebook.
    subprocess.run(["localedef", "-i", "en_US", "-f", "ISO-8859-1",
                    str(tmp_path / "en_US.ISO-8859-1")], check=True, capture_output=True)
    env = dict(os.environ, LOCPATH=str(tmp_path))
    child = subprocess.run([sys.executable, "-c", LATIN1_CHILD], env=env, check=True,
                           capture_output=True, text=True)
    expected = ("expected a concept id (lower case, digits, `_`) or a coded entry "
                '{"system", "code"}, got `"%s"`')
    assert json.loads(child.stdout) == [
        [["/conditions/1", expected % "a\u07f5"]],
        [["/conditions/0", expected % "\u00e9t\u00e9"]],
    ]


# ---- batches

def test_evaluate_many_ten_thousand_profiles(rs):
    profiles = [profile(i) for i in range(10000)]
    results = rs.evaluate_many(profiles)
    assert len(results) == 10000
    assert [r.profile for r in results[:3]] == ["p0", "p1", "p2"]
    assert all(r.ranking[0] == "tens_conventional" for r in results)
    single = rs.evaluate(profiles[1234]).to_json()
    assert results[1234].to_json() == single


def test_evaluate_many_threads_do_not_change_results(rs):
    profiles = [profile(i) for i in range(200)]
    one = [r.to_json() for r in rs.evaluate_many(profiles, threads=1)]
    many = [r.to_json() for r in rs.evaluate_many(profiles, threads=4)]
    assert one == many


def test_evaluate_many_from_several_python_threads(rs):
    outputs = [None] * 4

    def work(k):
        outputs[k] = [r.to_json() for r in rs.evaluate_many([profile(i) for i in range(300)])]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(o == outputs[0] for o in outputs)


def test_evaluate_many_invalid_profiles(rs):
    batch = [profile(0), {"id": "bad", "age": "old"}, profile(2), "not json"]
    with pytest.raises(stimrank.ProfileError) as info:
        rs.evaluate_many(batch)
    assert info.value.index == 1
    assert info.value.path == "/age"
    assert [f.index for f in info.value.failures] == [1, 3]
    returned = rs.evaluate_many(batch, errors="return")
    assert isinstance(returned[0], stimrank.Result)
    assert isinstance(returned[1], stimrank.ProfileError)
    assert isinstance(returned[3], stimrank.ProfileError)
    assert returned[2].profile == "p2"
    with pytest.raises(ValueError):
        rs.evaluate_many(batch, errors="ignore")


def test_evaluate_many_jsonl_path(rs, tmp_path):
    path = tmp_path / "cohort.jsonl"
    path.write_text("".join(json.dumps(profile(i)) + "\n" for i in range(5)) + "\n")
    results = rs.evaluate_many(str(path))
    assert [r.profile for r in results] == [f"p{i}" for i in range(5)]
    assert len(rs.evaluate_many(path)) == 5


def _vignette_profiles():
    from test_fhir_vignettes import vignettes
    return [dict(profile, id=name) for name, profile in vignettes()]


def test_batch_results_read_natively_equal_their_json(rs):
    """A batch's results answer ranking and statuses before their explanation is made
    again; every view equals the result JSON's, for every vignette of the knowledge base."""
    profiles = _vignette_profiles()
    assert len(profiles) > 50
    batch = rs.evaluate_many(profiles)
    for profile_dict, brief in zip(profiles, batch):
        whole = rs.evaluate(profile_dict)
        expected = json.loads(whole.to_json())
        ranked = [o["option"] for o in expected["options"] if o["rank"] is not None]
        # Before anything is made again: the brief's own answers.
        assert brief.profile == expected["profile"]
        assert brief.ranking == ranked == whole.ranking
        assert brief.statuses == whole.statuses == [
            (o["option"], o["status"], o["rank"], None if o["score"] is None else float(o["score"]))
            for o in expected["options"]]
        assert brief.warnings == expected["warnings"] == whole.warnings
        # The option entries are the JSON's, key for key and in order.
        assert whole.options == expected["options"]
        assert [list(o) for o in whole.options] == [list(o) for o in expected["options"]]
        assert brief.options == expected["options"]
        assert brief.to_json() == whole.to_json()
        assert brief.explain() == whole.explain()


# ---- pandas

def test_tidy_frame(rs):
    pd = pytest.importorskip("pandas")
    results = rs.evaluate_many([profile(i) for i in range(3)])
    frame = stimrank.to_dataframe(results)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 3 * 21
    assert list(frame.columns) == ["profile", "option", "title", "family", "invasiveness", "status", "rank",
                                   "score", "grade", "summary", "reasons", "missing"]
    first = frame[(frame["profile"] == "p0") & (frame["rank"] == 1)]
    assert first["option"].tolist() == ["tens_conventional"]
    assert "GRADE(direction for, line first)" in first["grade"].iloc[0]


def test_tidy_frame_equals_the_frame_read_from_the_json(rs):
    pd = pytest.importorskip("pandas")
    profiles = _vignette_profiles()
    results = rs.evaluate_many(profiles)
    frame = stimrank.to_dataframe(results)
    rows = []  # the same frame, read from each result's JSON
    for result in results:
        document = json.loads(result.to_json())
        for o in document["options"]:
            grade = "; ".join(
                e["scheme"] + "(" + ", ".join(f"{k} {v}" for k, v in e.items()
                                               if k not in {"rule", "scheme", "weight", "condition", "source",
                                                            "doi", "tags", "unverified"}) + ")"
                for e in o["evidence"])
            rows.append([document["profile"], o["option"], o["title"], o["family"], o["invasiveness"],
                         o["status"], o["rank"], o["score"], grade, o["summary"],
                         "; ".join(f'{r["kind"]}: {r["text"]} [{r["source"]}]' for r in o["reasons"]),
                         ", ".join(o["missing"])])
    assert len(frame) == len(rows) == 21 * len(profiles)
    for got, want in zip(frame.itertuples(index=False), rows):
        got = list(got)
        assert got[:6] == want[:6] and got[8:] == want[8:]
        assert (None if pd.isna(got[6]) else got[6]) == want[6]
        assert (None if pd.isna(got[7]) else got[7]) == want[7]


def test_dataframe_input_with_dotted_columns_and_empty_cells(rs):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({
        "id": ["a", "b"],
        "age": [70, float("nan")],
        "conditions": [["postherpetic_neuralgia"], ["painful_diabetic_neuropathy"]],
        "pain.distribution": ["focal", None],
        "devices": [[], []],
    })
    results = rs.evaluate_many(frame)
    assert [r.profile for r in results] == ["a", "b"]
    assert results[0].ranking[0] == "tens_conventional"
    tidy = rs.evaluate_frame(frame)
    assert set(tidy["profile"]) == {"a", "b"}


# ---- documentation

def test_help_is_useful():
    assert "evaluate_many" in stimrank.__doc__
    assert "ProfileError" in stimrank.__doc__
    for name in ("load", "RuleSet", "Result", "to_dataframe"):
        assert getattr(stimrank, name).__doc__


def test_notebook_runs_with_the_kernel_a_venv_user_installs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # What docs/python.md tells a venv user to run (--user there; a scratch prefix
    # here): the kernel `stimrank` that the notebook's metadata names.
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(tmp_path),
                    "--name", "stimrank", "--display-name", "Python 3 (stimrank)"],
                   check=True, capture_output=True)
    kernel = json.loads((tmp_path / "share" / "jupyter" / "kernels" / "stimrank" / "kernel.json").read_text())
    assert kernel["argv"][0] == sys.executable
    os.environ["JUPYTER_PATH"] = str(tmp_path / "share" / "jupyter")
    notebook = nbformat.read(ROOT / "examples" / "notebooks" / "ranking.ipynb", as_version=4)
    assert notebook.metadata.kernelspec.name == "stimrank"
    client = nbclient.NotebookClient(notebook, timeout=120,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # the notebook's own kernel name
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert [o for o in outputs if "text/html" in o.get("data", {})], "a result renders as HTML"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the figure is shown inline"
    source = "\n".join(cell.source for cell in notebook.cells)
    assert "matplotlib.use" not in source and "pop(" not in source


# ---- storage

def test_registry_round_trip_from_python(tmp_path):
    db = tmp_path / "registry.db"
    first = stimrank.publish(db, author="tester")
    assert first["ok"] and not first["already_published"]
    assert stimrank.publish(db)["already_published"]
    entries = stimrank.versions(db)
    assert [(e["name"], e["version"], e["author"]) for e in entries] == [(first["name"], first["version"], "tester")]
    stored = stimrank.load(f"db:{db}#{first['name']}@{first['version']}")
    assert stored.digest == stimrank.load().digest
    with pytest.raises(stimrank.RuleError):
        stimrank.load(f"db:{db}#no_such_rules")
    assert entries[0]["problem"] == ""


def test_registry_edited_after_publishing_is_refused_and_flagged(tmp_path):
    import sqlite3
    db = tmp_path / "registry.db"
    first = stimrank.publish(db)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE ruleset_files SET content = replace(content, "
                           "'absolute_contraindication', 'relative_contraindication')")
    with pytest.raises(stimrank.RuleError) as info:
        stimrank.load(f"db:{db}#{first['name']}@{first['version']}")
    assert info.value.diagnostics[0].code == "E116"
    assert stimrank.versions(db)[0]["problem"].startswith("E116: ")


def test_audit_from_python(tmp_path, rs):
    db = tmp_path / "audit.db"
    log = stimrank.AuditLog(db, b"0123456789abcdef-key")
    rs.evaluate(profile(1), audit=log)
    rs.evaluate_many([profile(i) for i in range(5)], audit=log)
    check = stimrank.verify_audit(db)
    assert check["ok"] and check["records"] == 6
    with pytest.raises(stimrank.StimrankError):
        stimrank.AuditLog(tmp_path / "other.db", "short")


def test_batch_from_python(tmp_path, rs):
    import sqlite3
    db = tmp_path / "cohort.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE profiles (id TEXT PRIMARY KEY, profile TEXT NOT NULL)")
        c.executemany("INSERT INTO profiles VALUES (?, ?)", [(f"p{i}", json.dumps(profile(i))) for i in range(20)])
    report = stimrank.run_batch(rs, db, chunk=6)
    assert report["evaluated"] == 20 and report["invalid"] == 0
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM results WHERE outcome = 'ok'").fetchone() == (20,)
        # The default keeps a summary a row: each option's status, rank, score, leading
        # evidence and missing count, the same as the full result says.
        stored, summary = c.execute("SELECT stored, result_json FROM results WHERE profile_id = 'p0'").fetchone()
        assert stored == "summary"
    full = rs.evaluate(profile(0)).to_dict()
    summary = json.loads(summary)
    assert [(o["option"], o["status"], o["rank"]) for o in summary["options"]] == \
        [(o["option"], o["status"], o["rank"]) for o in full["options"]]
    assert [o["missing"] for o in summary["options"]] == [len(o["missing"]) for o in full["options"]]
    assert len(json.dumps(summary)) < len(json.dumps(full)) / 4
    other = tmp_path / "full.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE profiles (id TEXT PRIMARY KEY, profile TEXT NOT NULL)")
        c.execute("INSERT INTO profiles VALUES (?, ?)", ("p0", json.dumps(profile(0))))
    stimrank.run_batch(rs, other, store="full")
    with sqlite3.connect(other) as c:
        stored, text = c.execute("SELECT stored, result_json FROM results").fetchone()
    assert stored == "full" and json.loads(text) == full
    with pytest.raises(ValueError):
        stimrank.run_batch(rs, other, store="everything")
    empty = tmp_path / "empty.db"
    with sqlite3.connect(empty) as c:
        c.execute("CREATE TABLE profiles (id TEXT PRIMARY KEY, profile TEXT NOT NULL)")
    with pytest.raises(stimrank.StimrankError, match="no profiles"):
        stimrank.run_batch(rs, empty)


def test_version_is_defined_once():
    """The CMake project version reaches the module, the installed package and the CLI."""
    import importlib.metadata
    import re
    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    version = re.search(r"project\(stimrank VERSION ([0-9.]+)", cmake).group(1)
    assert stimrank.__version__ == version
    assert importlib.metadata.version("stimrank") == version
    cli = subprocess.run([CLI, "--version"], capture_output=True, text=True, check=True)
    assert cli.stdout.strip() == "stimrank " + version


FHIR_BUNDLE = ROOT.parent / "shared" / "fhir" / "bundles" / "Johnnie679_Hermiston71_2cd30bd6-3a87-4191-af90-6daa70f58f55.json"


@pytest.mark.skipif(not FHIR_BUNDLE.exists(), reason="../shared/fhir not present")
def test_from_fhir_and_evaluate_fhir():
    """A real Synthea bundle: the profile, what was used and ignored, and the same
    ranking through evaluate_fhir as through the derived profile."""
    bundle = json.loads(FHIR_BUNDLE.read_text())
    rs = stimrank.load()
    mapping = stimrank.from_fhir(bundle, as_of="2026-12-01", rules=rs)
    assert mapping.profile["id"] == "ea877536-55b1-4ec8-a12b-e95594214c01"
    assert mapping.profile["age"] == 17
    assert any(n.what.startswith("pain.nrs") for n in mapping.used)
    assert any("not current" in n.what and n.resource.startswith("Condition/") for n in mapping.ignored)
    via_fhir = rs.evaluate_fhir(json.dumps(bundle), as_of="2026-12-01")
    via_profile = rs.evaluate(mapping.profile)
    assert via_fhir.ranking == via_profile.ranking
    assert any("not read" in w for w in via_fhir.warnings)


def test_from_fhir_errors_carry_fhir_paths():
    with pytest.raises(stimrank.ProfileError) as caught:
        stimrank.from_fhir({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Patient", "id": "a", "birthDate": "1970-02-30"}}]},
            as_of="2026-12-01")
    assert "Bundle.entry[0].resource.birthDate" in str(caught.value)


def test_a_bundle_nested_beyond_python_recursion_is_a_profile_error(rs):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": []}
    node = bundle
    for _ in range(5000):
        node["extension"] = {}
        node = node["extension"]
    for call in (lambda: stimrank.from_fhir(bundle, as_of="2026-12-01"),
                 lambda: rs.evaluate_fhir(bundle, as_of="2026-12-01")):
        with pytest.raises(stimrank.ProfileError) as caught:
            call()
        assert [(e.path, e.message) for e in caught.value.errors] == [
            ("Bundle", "the bundle is nested too deeply to be read")]


# ---- DataFrames

def test_evaluate_frame_long_and_wide_agree_with_the_cli(tmp_path):
    pd = pytest.importorskip("pandas")
    profiles = [profile(i) for i in range(30)]
    profiles[7] = {"id": "bad-7", "age": "old"}
    long = stimrank.evaluate_frame(pd.DataFrame({"profile": profiles}))
    assert list(long.columns) == list(stimrank.FRAME_COLUMNS)
    assert {c: str(t) for c, t in long.dtypes.items()} == stimrank.FRAME_COLUMNS
    # Row for row what `stimrank evaluate --jsonl` says, option by option.
    jsonl = tmp_path / "cohort.jsonl"
    jsonl.write_text("".join(json.dumps(p) + "\n" for p in profiles))
    out = subprocess.run([CLI, "evaluate", "--jsonl", str(jsonl)], capture_output=True, text=True)
    expected = []
    for line in out.stdout.splitlines():
        result = json.loads(line)
        if "errors" in result:
            expected.append(("bad-7", None, "error", None))
            continue
        for o in result["options"]:
            expected.append((result["profile"], o["option"], o["status"], o["rank"]))
    got = [(r.profile, None if pd.isna(r.option) else r.option, r.status,
            None if pd.isna(r.rank) else int(r.rank)) for r in long.itertuples()]
    assert got == expected
    error = long[long["status"] == "error"].iloc[0]
    assert error["profile"] == "bad-7" and error["error"].startswith("/age: ")
    first = json.loads(out.stdout.splitlines()[0])["options"][0]
    row = long.iloc[0]
    assert row["missing"] == len(first["missing"]) and row["score"] == pytest.approx(first["score"])
    if first["evidence"]:
        assert row["evidence_scheme"] == first["evidence"][0]["scheme"]
    else:
        assert pd.isna(row["evidence_scheme"])
    assert set(row["rules"].split(",")) >= {e["rule"] for e in first["evidence"]}
    # The wide form: one row per profile, in order, its top option and every status.
    wide = stimrank.evaluate_frame(profiles, form="wide")
    assert list(wide["profile"]) == [p["id"] for p in profiles]
    assert wide.loc[7, "error"].startswith("/age: ") and pd.isna(wide.loc[7, "top_option"])
    ranked_first = long[(long["rank"] == 1)].set_index("profile")["option"].astype(str)
    assert wide.loc[0, "top_option"] == ranked_first.get(profiles[0]["id"], None)
    assert wide.loc[0, "scs_tonic"] == long[(long.profile == profiles[0]["id"]) & (long.option == "scs_tonic")]["status"].iloc[0]
    # One dict per row works as well as a profile column.
    flat = stimrank.evaluate_frame(profiles[:3])
    assert list(flat["status"].astype(str)) == list(long["status"].astype(str))[:len(flat)]
    assert list(flat["option"].astype(str)) == list(long["option"].astype(str))[:len(flat)]


def test_a_pickled_evaluator_refuses_a_worker_with_other_rules(tmp_path):
    import pickle
    import shutil
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "knowledge", folder, ignore=shutil.ignore_patterns("tests"))
    evaluator = stimrank.Evaluator(folder)
    assert evaluator.digest == stimrank.load(folder).digest
    copy = pickle.loads(pickle.dumps(evaluator))
    assert copy.evaluate(profile(0)).ranking == stimrank.load(folder).evaluate(profile(0)).ranking
    assert len(copy.evaluate_frame([profile(0)])) == len(stimrank.load(folder).option_ids)
    # A worker process (a fresh interpreter) unpickles it: the same rules load...
    pickled = tmp_path / "evaluator.pickle"
    pickled.write_bytes(pickle.dumps(evaluator))
    worker = "import pickle, sys, stimrank; e = pickle.load(open(sys.argv[1], 'rb')); print(e.evaluate({'id': 'w', 'age': 60}).profile)"
    ok = subprocess.run([sys.executable, "-c", worker, str(pickled)], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == "w", ok.stderr
    # ...but rules that changed on the worker's disk are refused, naming both digests.
    spinal = folder / "spinal.rules"
    spinal.write_text(spinal.read_text().replace('"10 kHz', '"ten kHz', 1) + "\n// edited on the worker\n")
    refused = subprocess.run([sys.executable, "-c", worker, str(pickled)], capture_output=True, text=True)
    assert refused.returncode != 0
    assert "refusing to evaluate with other rules" in refused.stderr and evaluator.digest in refused.stderr


def test_an_evaluator_by_relative_path_or_registry_reference_works_from_another_folder(tmp_path, monkeypatch):
    import pickle
    import shutil
    shutil.copytree(ROOT / "knowledge", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    stimrank.publish(tmp_path / "registry.sqlite", tmp_path / "rules")
    name, version = stimrank.load(tmp_path / "rules").name, stimrank.load(tmp_path / "rules").version
    monkeypatch.chdir(tmp_path)
    by_path = stimrank.Evaluator("rules")
    by_reference = stimrank.Evaluator(f"db:registry.sqlite#{name}@{version}")
    assert by_path.path == str(tmp_path / "rules")
    assert by_reference.path == f"db:{tmp_path / 'registry.sqlite'}#{name}@{version}"
    assert by_path.digest == by_reference.digest
    worker = ("import pickle, sys, stimrank\n"
              "for e in pickle.loads(open(sys.argv[1], 'rb').read()):\n"
              "    print(e.evaluate({'id': 'w', 'age': 60}).profile, e.ruleset.digest)")
    pickled = tmp_path / "evaluators.pickle"
    pickled.write_bytes(pickle.dumps([by_path, by_reference]))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run([sys.executable, "-c", worker, str(pickled)], capture_output=True, text=True, cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["w", by_path.digest, "w", by_path.digest]
