"""The language server (`stimrank lsp`) driven over stdio by a scripted client:
a whole session checked against a golden transcript, edits that break and repair a
file, formatting equal to `stimrank fmt`, vignette test files, and hostile clients."""
import json
import os
import pathlib
import queue
import shutil
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = os.environ.get("STIMRANK_CLI", str(ROOT / "build" / "stimrank"))
GOLDEN = ROOT / "tests" / "golden" / "lsp" / "session.expected.json"


class Client:
    """A minimal LSP client: Content-Length framing, requests matched by id."""

    def __init__(self, *args, cwd=None, debounce=20):
        self.process = subprocess.Popen([CLI, "lsp", "--debounce", str(debounce), *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
        self.incoming = queue.Queue()
        self.pending = []
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.process.stdout
        while True:
            line = out.readline()
            if not line:
                self.incoming.put(None)
                return
            headers = {}
            while line.strip():
                name, value = line.decode().split(":", 1)
                headers[name.strip().lower()] = value.strip()
                line = out.readline()
            self.incoming.put(json.loads(out.read(int(headers["content-length"]))))

    def send_bytes(self, data):
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, message):
        body = json.dumps(message).encode()
        self.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method, params=None):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params=None, timeout=30):
        number = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": number, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == number, timeout)

    def wait(self, matches, timeout=30):
        for m in self.pending:
            if matches(m):
                self.pending.remove(m)
                return m
        end = time.time() + timeout
        while time.time() < end:
            try:
                m = self.incoming.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            if m is None:
                raise EOFError("the server closed its output")
            if matches(m):
                return m
            self.pending.append(m)
        raise TimeoutError("no matching message")

    def diagnostics(self, uri, timeout=30):
        return self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                         and m["params"]["uri"] == uri, timeout)["params"]["diagnostics"]

    def start(self, capabilities=None):
        result = self.request("initialize", {"processId": os.getpid(), "rootUri": None,
                                             "capabilities": capabilities or {}})
        self.notify("initialized", {})
        return result["result"]

    def open(self, path, text=None):
        uri = "file://" + str(path)
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "stimrank", "version": 1,
            "text": text if text is not None else pathlib.Path(path).read_text()}})
        return uri

    def stop(self):
        assert self.request("shutdown")["result"] is None
        self.notify("exit")
        return self.process.wait(10)


def position_of(text, needle, offset=0, occurrence=0):
    at = -1
    for _ in range(occurrence + 1):
        at = text.index(needle, at + 1)
    at += offset
    line = text.count("\n", 0, at)
    return {"line": line, "character": at - (text.rfind("\n", 0, at) + 1)}


def relative(value):
    """URIs under the repository written relative to it, for a stable transcript."""
    return json.loads(json.dumps(value).replace("file://" + str(ROOT) + "/", "file://ROOT/"))


# (file, text to find, offset into it, what is asked)
PROBES = [
    ("spinal.rules", "option scs_tonic", 9, "hover"),
    ("spinal.rules", "option scs_tonic", 9, "references"),
    ("spinal.rules", "source cruccu2007", 9, "definition"),
    ("spinal.rules", "source cruccu2007", 9, "hover"),
    ("transcranial.rules", "grade IFCN(", 7, "hover"),
    ("transcranial.rules", "grade IFCN(", 7, "definition"),
    ("transcranial.rules", "pain.nrs >= 5", 6, "hover"),
    ("transcranial.rules", "pain.nrs >= 5", 6, "definition"),
    ("spinal.rules", "has neuropathic_pain", 6, "definition"),
    ("spinal.rules", "has neuropathic_pain", 6, "hover"),
    ("spinal.rules", "chronic_moderate_pain;", 3, "definition"),
    ("peripheral.rules", "let focal_peripheral_np", 6, "references"),
    ("transcranial.rules", "indication rtms_ifcn_np", 14, "hover"),
]


def test_a_session_matches_its_golden_transcript():
    client = Client()
    capabilities = client.start()["capabilities"]
    assert capabilities["hoverProvider"] and capabilities["definitionProvider"]
    texts = {}
    for name in ("spinal.rules", "transcranial.rules", "peripheral.rules"):
        path = ROOT / "knowledge" / name
        texts[name] = path.read_text()
        uri = client.open(path)
        assert client.diagnostics(uri) == [], "the shipped knowledge base is clean"
    transcript = []
    for name, needle, offset, method in PROBES:
        params = {"textDocument": {"uri": "file://" + str(ROOT / "knowledge" / name)},
                  "position": position_of(texts[name], needle, offset)}
        if method == "references":
            params["context"] = {"includeDeclaration": True}
        answer = client.request("textDocument/" + method, params)
        assert "error" not in answer, answer
        transcript.append({"ask": [name, needle, offset, method], "answer": relative(answer["result"])})
    # Completion: keywords, ids in scope, grade dimensions and values.
    spinal = "file://" + str(ROOT / "knowledge" / "spinal.rules")
    labels = lambda r: sorted(i["label"] for i in r["result"])
    at_top = client.request("textDocument/completion", {"textDocument": {"uri": spinal},
                                                        "position": {"line": 0, "character": 0}})
    for expected in ("indication", "option", "scs_tonic", "cruccu2007", "pain.nrs", "neuropathic_pain"):
        assert expected in labels(at_top), expected
    in_grade = client.request("textDocument/completion", {
        "textDocument": {"uri": spinal}, "position": position_of(texts["spinal.rules"], "EFNS(", 5)})
    transcript.append({"ask": ["spinal.rules", "EFNS(", 5, "completion"], "answer": labels(in_grade)})
    assert "level" in labels(in_grade)
    assert client.stop() == 0
    if os.environ.get("STIMRANK_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(transcript, indent=1, ensure_ascii=False) + "\n")
    assert transcript == json.loads(GOLDEN.read_text())


def copy_of_knowledge(tmp_path):
    folder = tmp_path / "guideline"
    shutil.copytree(ROOT / "knowledge", folder)
    return folder


def test_edits_break_and_repair_a_file(tmp_path):
    folder = copy_of_knowledge(tmp_path)
    path = folder / "spinal.rules"
    text = path.read_text()
    client = Client()
    client.start()
    uri = client.open(path, text)
    assert client.diagnostics(uri) == []
    # Misspell a keyword with an incremental edit: an E002 with did-you-mean, at the word.
    where = position_of(text, "indication scs_")
    end = dict(where, character=where["character"] + len("indication"))
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
        {"range": {"start": where, "end": end}, "text": "indicaton"}]})
    broken = client.diagnostics(uri)
    assert [d["code"] for d in broken] == ["E002"], broken
    assert broken[0]["range"] == {"start": where, "end": dict(where, character=where["character"] + 9)}
    assert "did you mean `indication`" in broken[0]["message"]
    # The quick fix that the hint offers, applied, repairs the file.
    actions = client.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": broken[0]["range"],
                                                         "context": {"diagnostics": broken}})["result"]
    assert actions[0]["title"] == "change to `indication`"
    edit = actions[0]["edit"]["changes"][uri][0]
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [
        {"range": edit["range"], "text": edit["newText"]}]})
    assert client.diagnostics(uri) == []
    # An undefined source in another rule: E100 at the name, in this file only.
    cited = position_of(text, "source cruccu2007", 7)
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 4}, "contentChanges": [
        {"range": {"start": cited, "end": dict(cited, character=cited["character"] + 10)}, "text": "cruccu2070"}]})
    undefined = client.diagnostics(uri)
    assert [d["code"] for d in undefined] == ["E100"]
    assert undefined[0]["range"]["start"] == cited
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 5}, "contentChanges": [{"text": text}]})
    assert client.diagnostics(uri) == []
    assert client.stop() == 0


def test_formatting_equals_stimrank_fmt(tmp_path):
    messy = 'ruleset "x" version "1";\nsource s "S" doi "10.1/s";\nfacts {   age: int 0..130; }\noption o "O" {\ninvasiveness noninvasive;\n  indication a when age>=3 weight 1 source s because "a";}\n'
    path = tmp_path / "messy.rules"
    path.write_text(messy)
    client = Client()
    client.start()
    uri = client.open(path, messy)
    edits = client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                       "options": {"tabSize": 2, "insertSpaces": True}})["result"]
    assert len(edits) == 1
    fmt = subprocess.run([CLI, "fmt", "-"], input=messy, capture_output=True, text=True, check=True).stdout
    assert edits[0]["newText"] == fmt
    assert edits[0]["range"]["start"] == {"line": 0, "character": 0}
    assert client.stop() == 0


def test_vignette_test_files_show_failing_cases_and_run_one(tmp_path):
    folder = copy_of_knowledge(tmp_path)
    tests = folder / "tests" / "policy.json"
    document = json.loads(tests.read_text())
    cases = document["cases"] if isinstance(document, dict) else document
    name = cases[0]["name"]
    text = tests.read_text()
    client = Client()
    client.start()
    uri = client.open(tests, text)
    assert client.diagnostics(uri) == []
    lenses = client.request("textDocument/codeLens", {"textDocument": {"uri": uri}})["result"]
    assert len(lenses) == len(cases) and lenses[0]["command"]["title"] == "run this case"
    ran = client.request("workspace/executeCommand", {"command": "stimrank.runCase",
                                                      "arguments": lenses[0]["command"]["arguments"]})["result"]
    assert ran["passed"] is True
    # Expect the impossible of the first case: it fails, at its name.
    broken = json.loads(text)
    first = (broken["cases"] if isinstance(broken, dict) else broken)[0]
    first["expect"] = {"status": {"tus": "recommended"}}  # an investigational option never is
    changed = json.dumps(broken, indent=1)
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": changed}]})
    failing = client.diagnostics(uri)
    assert failing and "fails" in failing[0]["message"], failing
    assert failing[0]["range"]["start"] == position_of(changed, json.dumps(name))
    assert client.stop() == 0


def test_hostile_clients_get_errors_not_crashes(tmp_path):
    client = Client()
    # Before initialize: refused.
    assert client.request("textDocument/hover", {})["error"]["code"] == -32002
    client.start()
    # Not JSON: a parse error; the server goes on.
    client.send_bytes(b"Content-Length: 9\r\n\r\n{not json")
    assert client.wait(lambda m: "error" in m and m["error"]["code"] == -32700)
    # No Content-Length: said, and the next message is still read.
    client.send_bytes(b"Content-Type: x\r\n\r\n")
    assert client.wait(lambda m: "error" in m and "Content-Length" in m["error"]["message"])
    assert client.request("no/such/method", {})["error"]["code"] == -32601
    # Parameters of the wrong type: the client's error (-32602), not an internal one.
    for params in ({"textDocument": {"uri": 42}, "position": {"line": 0, "character": 0}},
                   {"textDocument": None}, {}):
        error = client.request("textDocument/hover", params)["error"]
        assert error["code"] == -32602 and error["message"].startswith("invalid params: "), error
        assert "json.exception" not in error["message"]
        if params:  # the field is named by its JSON pointer
            assert error["message"].startswith("invalid params: /textDocument"), error
    # An edit at positions outside the document: clamped, logged, never a crash.
    path = tmp_path / "small.rules"
    text = 'ruleset "x" version "1";\nsource s "S" doi "10.1/s";\nfacts { age: int 0..130; }\n'
    path.write_text(text)
    uri = client.open(path, text)
    errors_only = lambda diagnostics: [d for d in diagnostics if d["severity"] == 1]
    assert errors_only(client.diagnostics(uri)) == []
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
        {"range": {"start": {"line": 500, "character": 3}, "end": {"line": 900, "character": 0}}, "text": "\n// end\n"}]})
    assert client.wait(lambda m: m.get("method") == "window/logMessage" and "outside" in m["params"]["message"])
    assert errors_only(client.diagnostics(uri)) == []
    # A 10 MB document: answered with the size limit's error, and the server stays up.
    huge = text + "// " + "x" * (10 << 20) + "\n"
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": huge}]})
    errors = client.diagnostics(uri, timeout=60)
    assert any(d["code"] == "E113" for d in errors), errors[:3]
    assert client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 1}})["result"] is None
    assert client.stop() == 0


def lsp_on_bytes(data):
    """`stimrank lsp` on a whole input: its exit status, its replies and its log."""
    process = subprocess.run([CLI, "lsp"], input=data, capture_output=True, timeout=60)
    replies, out = [], process.stdout
    while out:
        header, _, rest = out.partition(b"\r\n\r\n")
        length = int(header.split(b":")[1])
        replies.append(json.loads(rest[:length]))
        out = rest[length:]
    return process.returncode, replies, process.stderr.decode()


@pytest.mark.parametrize("data, said", [
    (b"Content-Length: 99999999999999\r\n\r\n{}", "a message of 99999999999999 bytes is over the limit of"),
    (b"Content-Length: 9999999999999999999999999\r\n\r\n{}", "a Content-Length of over 18 digits is over the limit of"),
    (b"Content-Length: 12\r\nContent-Ty", "the input ended inside a message's headers"),
    (b'Content-Length: 100\r\n\r\n{"jsonrpc":"2.0"', "the input ended 16 bytes into a message of 100 bytes"),
    (b"X" * 2000 + b"\r\n\r\n", "a header line over 1024 bytes"),
    (b"Content-Length", "the input ended inside a message's headers"),
])
def test_broken_framing_is_said_not_guessed(data, said):
    code, replies, log = lsp_on_bytes(data)
    assert code == 1  # the input ended without shutdown and exit
    assert [r["error"]["code"] for r in replies] == [-32700], replies
    assert said in replies[0]["error"]["message"]
    assert said in log


def test_a_header_line_without_end_is_not_held(tmp_path):
    # 256 MiB with no line end: read and passed over, never held (the resident size
    # of the server stays far below the input's).
    probe = f"""
import resource, subprocess, sys
p = subprocess.Popen([{CLI!r}, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE)
block = b"X" * (1 << 20)
for _ in range(256):
    p.stdin.write(block)
p.stdin.close()
log = p.stderr.read().decode()
print(p.wait(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, log.strip())
"""
    result = subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True, text=True, timeout=120)
    code, max_kb, log = result.stdout.split(" ", 2)
    assert code == "1"
    assert int(max_kb) < 64 * 1024, max_kb
    assert "the input ended inside a message's headers" in log


def test_requests_about_unopened_special_files_are_answered_at_once(tmp_path):
    # A file the editor has not opened is read from disk only if it is a regular
    # file, and only up to the size limit: /dev/zero read 15 GB, a FIFO would block.
    fifo = tmp_path / "pipe.rules"
    os.mkfifo(fifo)
    client = Client()
    client.start()
    for uri in ("file:///dev/zero", fifo.as_uri()):
        for method in ("textDocument/hover", "textDocument/definition", "textDocument/references",
                       "textDocument/completion", "textDocument/codeLens"):
            reply = client.request(method, {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0},
                                            "context": {"includeDeclaration": True}}, timeout=20)
            assert "error" not in reply, (uri, method, reply)
            if method != "textDocument/completion":  # (an empty .rules file offers keywords)
                assert reply["result"] in (None, []), (uri, method, reply)  # an empty document
    assert client.stop() == 0


def test_a_client_that_vanishes_ends_the_server():
    client = Client()
    client.start()
    client.process.stdin.close()  # gone without shutdown or exit
    assert client.process.wait(10) == 1  # the protocol's code for an exit without shutdown
    assert b"internal error" not in client.process.stderr.read()


def test_the_vscode_extension_starts_the_server():
    folder = ROOT / "editors" / "vscode-stimrank"
    manifest = json.loads((folder / "package.json").read_text())
    assert manifest["main"] == "./extension.js" and (folder / "extension.js").exists()
    settings = manifest["contributes"]["configuration"]["properties"]
    assert "stimrank.path" in settings and "stimrank.debounceMs" in settings
    source = (folder / "extension.js").read_text()
    assert '"lsp"' in source and 'getConfiguration("stimrank")' in source
    assert 'settings.get("path"' in source
    if shutil.which("node"):
        subprocess.run(["node", "--check", str(folder / "extension.js")], check=True)


def test_a_lint_warning_with_a_fix_gets_a_code_action(tmp_path):
    text = (ROOT / "tests" / "golden" / "lint" / "flawed.rules").read_text()
    path = tmp_path / "flawed.rules"
    path.write_text(text)
    client = Client()
    client.start()
    uri = client.open(path, text)
    twice = [d for d in client.diagnostics(uri) if d["code"] == "L006" and "twice" in d["message"]]
    assert len(twice) == 1, twice
    actions = client.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": twice[0]["range"],
                                                         "context": {"diagnostics": twice}})["result"]
    assert [a["title"] for a in actions] == ["remove the second listing of the code"]
    edit = actions[0]["edit"]["changes"][uri][0]
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
        {"range": edit["range"], "text": edit["newText"]}]})
    after = client.diagnostics(uri)
    assert not [d for d in after if "twice" in d["message"]], after
    assert client.stop() == 0
