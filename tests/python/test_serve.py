"""The CDS Hooks service (`stimrank serve`, issue 24), a real server on a free
loopback port: discovery, the real requests of ../shared/fhir/cds-hooks-requests,
the knowledge base's vignettes as prefetch (the card's ranking is the evaluation's),
the explanation page, feedback, every error row, 200 concurrent calls, SIGTERM.
"""
import concurrent.futures
import datetime
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import stimrank
from test_fhir_vignettes import load_concept_codes, vignettes, write_bundle

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = os.environ.get("STIMRANK_CLI", str(ROOT / "build" / "stimrank"))
REQUESTS = ROOT.parent / "shared" / "fhir" / "cds-hooks-requests"
SERVICE = "stimrank-patient-view"


class Server:
    def __init__(self, *args, preexec_fn=None):
        self.process = subprocess.Popen([CLI, "serve", "--port", "0", *args],
                                        stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
        line = self.process.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/cds-services", line)
        assert match, line
        self.base = f"http://127.0.0.1:{match.group(1)}"

    def request(self, method, path, body=None, headers=None):
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=30)
        return self.process.returncode, err


@pytest.fixture(scope="module")
def server():
    s = Server("--allow-unauthenticated", "--limit", "fhir-bytes=2000000")
    yield s
    code, err = s.stop()
    assert code == 0, err
    assert "stopped" in err
    # One log line per request: method, path, status, milliseconds.
    assert re.search(r"^POST /cds-services/stimrank-patient-view 200 [0-9.]+ ms$", err, re.M), err[-2000:]


def operation_outcome(body):
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error" and outcome["issue"][0]["diagnostics"]
    return outcome["issue"][0]["diagnostics"]


def test_discovery(server):
    status, body, headers = server.request("GET", "/cds-services")
    assert status == 200
    service = json.loads(body)["services"][0]
    assert service["hook"] == "patient-view" and service["id"] == SERVICE
    assert service["title"] and service["description"]
    prefetch = service["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    for key in ("conditions", "observations", "medicationRequests", "devices", "procedures"):
        assert "{{context.patientId}}" in prefetch[key]
    assert "72514-3" in prefetch["observations"]
    # a drug named by medicationReference comes with its Medication
    assert prefetch["medicationRequests"].endswith("&_include=MedicationRequest:medication")
    assert prefetch["medicationStatements"].endswith("&_include=MedicationStatement:medication")
    assert headers.get("Access-Control-Allow-Origin") == "*"


def test_cors_preflight(server):
    status, _, headers = server.request("OPTIONS", f"/cds-services/{SERVICE}")
    assert status == 204
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "Authorization" in headers["Access-Control-Allow-Headers"]


@pytest.mark.skipif(not REQUESTS.exists(), reason="../shared/fhir not present")
def test_real_requests_get_clear_answers(server):
    """Requests written for other CDS services, as they are: most are not JSON (a
    closing brace too many), the others prefetch no Patient; each gets the spec's
    error shape, never a crash."""
    seen = {}
    for path in sorted(REQUESTS.glob("*.json")):
        text = path.read_bytes()
        status, body, _ = server.request("POST", f"/cds-services/{SERVICE}", text)
        try:
            request = json.loads(text)
        except ValueError:
            assert status == 400, (path.name, status, body)
            assert "not JSON" in operation_outcome(body)
            seen["malformed"] = seen.get("malformed", 0) + 1
            continue
        if request.get("hook") != "patient-view":
            assert status == 400 and "patient-view" in operation_outcome(body), (path.name, body)
            seen["other hook"] = seen.get("other hook", 0) + 1
        else:
            assert status == 412 and "not prefetched" in operation_outcome(body), (path.name, body)
            seen["no patient"] = seen.get("no patient", 0) + 1
    assert seen.get("malformed", 0) >= 10 and seen.get("no patient", 0) >= 2, seen


def prefetch_of(bundle):
    """A Bundle's resources under the service's prefetch keys, as an EHR sends them."""
    keys = {"Patient": "patient", "Condition": "conditions", "Observation": "observations",
            "MedicationRequest": "medicationRequests", "MedicationStatement": "medicationStatements",
            "Device": "devices", "Procedure": "procedures"}
    prefetch = {}
    patient_id = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    for entry in bundle["entry"]:
        resource = json.loads(json.dumps(entry["resource"]))
        for key in ("subject", "patient"):  # a FHIR server's references, not the Bundle's urn:uuid
            if key in resource:
                resource[key] = {"reference": f"Patient/{patient_id}"}
        key = keys[resource["resourceType"]]
        if key == "patient":
            prefetch[key] = resource
        else:
            prefetch.setdefault(key, {"resourceType": "Bundle", "type": "searchset", "entry": []})
            prefetch[key]["entry"].append({"resource": resource})
    return prefetch


def call(patient_id, prefetch):
    return {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/1", "patientId": patient_id}, "prefetch": prefetch}


def ranking_of_card(card):
    return re.findall(r"^\d+\. \*\*(.+?)\*\*: (recommended|consider)\.", card["detail"], re.M)


def test_vignettes_rank_as_the_evaluation_does(server, concept_codes):
    rs = stimrank.load()
    today = datetime.datetime.utcnow().date().isoformat()
    cards = no_cards = 0
    for name, profile in list(vignettes())[::3]:
        bundle, _ = write_bundle(profile, concept_codes)
        patient_id = bundle["entry"][0]["resource"]["id"]
        status, body, _ = server.request("POST", f"/cds-services/{SERVICE}", call(patient_id, prefetch_of(bundle)))
        assert status == 200, (name, body)
        answer = json.loads(body)
        result = json.loads(rs.evaluate_fhir(bundle, as_of=today).to_json())
        expected = [(o["title"], o["status"]) for o in result["options"] if o["status"] in ("recommended", "consider")]
        if not expected:
            assert answer["cards"] == [], (name, answer)  # no indication, no card
            no_cards += 1
            continue
        (card,) = answer["cards"]
        cards += 1
        assert [(t.replace("\\", ""), s) for t, s in ranking_of_card(card)] == expected, (name, card["detail"])
        assert len(card["summary"]) <= 140 and card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"].startswith("stimrank neuromodulation-neuropathic-pain")
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", card["uuid"])
        assert card["overrideReasons"] and card["links"][0]["type"] == "absolute"
    assert cards >= 10 and no_cards >= 1, (cards, no_cards)


@pytest.fixture(scope="module")
def concept_codes():
    return load_concept_codes()


def one_card(server):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1950-01-01", "gender": "female"}},
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                      "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "2177002"}]}}}]}
    status, body, _ = server.request("POST", f"/cds-services/{SERVICE}", call("Patient/p1", prefetch_of(bundle)))
    assert status == 200, body
    return json.loads(body)["cards"][0]


def test_explanation_page_and_feedback(server):
    card = one_card(server)
    url = card["links"][0]["url"]
    assert url.startswith(server.base + "/explain/")
    status, html, headers = server.request("GET", url[len(server.base):])
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "<table id=\"ranking\">" in html and "https://doi.org/" in html
    assert card["summary"].split(": ", 1)[1].split(" (")[0] in html
    status, body, _ = server.request("GET", "/explain/00000000-0000-4000-8000-000000000000")
    assert status == 404
    status, body, _ = server.request("POST", f"/cds-services/{SERVICE}/feedback",
                                     {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                                                    "overrideReason": {"reason": card["overrideReasons"][0]},
                                                    "outcomeTimestamp": "2026-12-06T10:00:00Z"}]})
    assert status == 200, body
    status, body, _ = server.request("POST", f"/cds-services/{SERVICE}/feedback", {"feedback": [{"card": 1}]})
    assert status == 400 and operation_outcome(body)


def test_error_rows(server):
    post = lambda body, service=SERVICE: server.request("POST", f"/cds-services/{service}", body)
    status, body, _ = post(b"{not json")
    assert status == 400 and "not JSON" in operation_outcome(body)
    status, body, _ = post({"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p"}})
    assert status == 400 and "patient-view" in operation_outcome(body)
    status, body, _ = post({"hook": "patient-view", "hookInstance": "x", "context": {}})
    assert status == 400 and "patientId" in operation_outcome(body)
    status, body, _ = post({"hook": "patient-view", "context": {"patientId": "p"}})
    assert status == 400 and "hookInstance" in operation_outcome(body)
    status, body, _ = post(call("p1", {}), service="no-such-service")
    assert status == 404 and operation_outcome(body)
    status, body, _ = server.request("GET", "/nowhere")
    assert status == 404 and operation_outcome(body)
    status, body, _ = post(b"{" + b" " * 2_100_000 + b"}")
    assert status == 413 and operation_outcome(body)
    status, body, _ = post(call("p1", {"patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1950-02-30"}}))
    assert status == 400 and "prefetch.patient.birthDate" in operation_outcome(body)
    # A resource's place in the request is what an error names.
    observation = {"resourceType": "Observation", "id": "o1", "status": "final",
                   "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2020-13-45",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
                   "valueQuantity": {"value": 6}}
    status, body, _ = post(call("p1", {"patient": {"resourceType": "Patient", "id": "p1"},
                                       "observations": {"resourceType": "Bundle", "type": "searchset",
                                                        "entry": [{"resource": observation}]}}))
    assert status == 400
    assert "prefetch.observations.entry[0].resource.effectiveDateTime" in operation_outcome(body)


def test_concurrent_calls_answer_alike(server):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p7", "birthDate": "1960-01-01"}},
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p7"},
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "2177002"}]}}}]}
    body = call("p7", prefetch_of(bundle))
    def one(_):
        status, text, _ = server.request("POST", f"/cds-services/{SERVICE}", body)
        card = json.loads(text)["cards"][0]
        return status, card["summary"], card["detail"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(one, range(200)))
    assert all(a[0] == 200 for a in answers)
    assert len({a[1:] for a in answers}) == 1


def test_refuses_to_start_unauthenticated_without_the_flag():
    process = subprocess.run([CLI, "serve", "--port", "0"], capture_output=True, text=True, timeout=30)
    assert process.returncode == 1
    assert "--allow-unauthenticated" in process.stderr


# ---- JWT bearer tokens (keys made at test time with the openssl command) -------------

import base64  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import uuid  # noqa: E402


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def public_hex(text, label):
    """The colon-separated hex block after `label` in `openssl pkey -text` output."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip().startswith(label))
    hex_digits = ""
    for line in lines[start + 1:]:
        if not line.startswith(" "):
            break
        hex_digits += line.strip().replace(":", "")
    return bytes.fromhex(hex_digits)


class Keys:
    def __init__(self, folder):
        self.ec = str(folder / "ec.pem")
        self.rsa = str(folder / "rsa.pem")
        self.stranger = str(folder / "stranger.pem")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", self.ec)
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", self.stranger)
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.rsa)
        ec_text = openssl("pkey", "-in", self.ec, "-pubout", "-text", "-noout").decode()
        point = public_hex(ec_text, "pub:")
        rsa_text = openssl("pkey", "-in", self.rsa, "-pubout", "-text", "-noout").decode()
        modulus = public_hex(rsa_text, "Modulus:").lstrip(b"\0")
        self.jwks = {"keys": [
            {"kty": "EC", "crv": "P-384", "kid": "ec-1", "x": b64url(point[1:49]), "y": b64url(point[49:97])},
            {"kty": "RSA", "kid": "rsa-1", "n": b64url(modulus), "e": b64url((65537).to_bytes(3, "big"))}]}

    @staticmethod
    def raw_ecdsa(der, size=48):
        """DER ECDSA-Sig-Value → JWS R||S."""
        assert der[0] == 0x30
        at = 2 if der[1] < 0x80 else 3
        parts = []
        for _ in range(2):
            assert der[at] == 0x02
            length = der[at + 1]
            parts.append(der[at + 2:at + 2 + length].lstrip(b"\0").rjust(size, b"\0"))
            at += 2 + length
        return b"".join(parts)

    def token(self, aud, alg="ES384", kid=None, key=None, iss="https://ehr.example", **claims):
        header = {"alg": alg, "typ": "JWT", "kid": kid or ("ec-1" if alg.startswith("ES") else "rsa-1")}
        now = int(time.time())
        body = {"iss": iss, "sub": "client", "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        body.update(claims)
        signing = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(body).encode())).encode()
        if alg == "HS256":
            signature = hmac.new(b"a shared secret", signing, hashlib.sha256).digest()
        elif alg == "none":
            signature = b""
        elif alg.startswith("ES"):
            signature = self.raw_ecdsa(openssl("dgst", "-sha384", "-sign", key or self.ec, data=signing))
        else:
            signature = openssl("dgst", "-sha" + alg[2:], "-sign", key or self.rsa, data=signing)
        return signing.decode() + "." + b64url(signature)


def test_bearer_tokens_are_verified(tmp_path):
    keys = Keys(tmp_path)
    (tmp_path / "jwks.json").write_text(json.dumps(keys.jwks))
    server = Server("--issuer", "https://ehr.example", "--jwks", str(tmp_path / "jwks.json"))
    try:
        aud = server.base + f"/cds-services/{SERVICE}"
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Patient", "id": "p9", "birthDate": "1955-05-05"}}]}
        body = call("p9", prefetch_of(bundle))
        def post(token):
            headers = {"Authorization": "Bearer " + token} if token is not None else {}
            return server.request("POST", f"/cds-services/{SERVICE}", body, headers)
        assert server.request("GET", "/cds-services")[0] == 200  # discovery is open
        status, text, headers = post(None)
        assert status == 401 and "no bearer token" in operation_outcome(text)
        good = keys.token(aud)
        assert post(good)[0] == 200
        status, text, _ = post(good)
        assert status == 401 and "replayed" in operation_outcome(text)
        assert post(keys.token(aud, alg="RS256"))[0] == 200
        assert post(keys.token(aud, alg="RS384"))[0] == 200
        cases = {
            "not accepted": keys.token(aud, alg="HS256"),
            "is not accepted": keys.token(aud, alg="none"),
            "not trusted": keys.token(aud, iss="https://elsewhere.example"),
            "is not for": keys.token(server.base + "/cds-services/other"),
            "expired": keys.token(aud, exp=int(time.time()) - 10),
            "does not verify": keys.token(aud, key=keys.stranger),
            "no id": keys.token(aud, jti=""),
        }
        tampered = keys.token(aud).split(".")
        tampered[1] = b64url(json.dumps({"iss": "https://ehr.example", "aud": aud, "exp": 9999999999, "jti": "x"}).encode())
        cases["does not verify "] = ".".join(tampered)
        cases["not a JWT"] = "abc.def"
        for why, token in cases.items():
            status, text, headers = post(token)
            assert status == 401, (why, status, text)
            assert why.strip() in operation_outcome(text), (why, text)
    finally:
        code, err = server.stop()
    assert code == 0, err
    assert "not authenticated" not in err


def test_feedback_is_recorded_next_to_its_evaluation(tmp_path):
    import sqlite3
    db = tmp_path / "audit.db"
    env_key = {"STIMRANK_AUDIT_KEY": "serve-audit-key-0123456789"}
    os.environ.update(env_key)
    server = Server("--allow-unauthenticated", "--audit", str(db))
    try:
        card = one_card(server)
        status, body, _ = server.request("POST", f"/cds-services/{SERVICE}/feedback",
                                         {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                                                        "overrideReason": {"reason": card["overrideReasons"][1],
                                                                           "userComment": "prefers to wait"},
                                                        "outcomeTimestamp": "2026-12-06T10:00:00Z"}]})
        assert status == 200, body
    finally:
        code, err = server.stop()
    assert code == 0, err
    verify = subprocess.run([CLI, "audit", "verify", "--db", str(db)], capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stdout.strip() == "ok: 2 records, chain intact", verify
    rows = sqlite3.connect(db).execute("SELECT seq, patient_pseudonym, result_json FROM audit_log ORDER BY seq").fetchall()
    evaluation, feedback = rows
    record = json.loads(feedback[2])
    assert record["kind"] == "feedback" and record["card"] == card["uuid"]
    assert record["answers_record"] == evaluation[0] and feedback[1] == evaluation[1]
    assert record["feedback"]["overrideReason"]["userComment"] == "prefers to wait"
    assert "p1" not in feedback[1]  # the patient is pseudonymised


# ---- data the EHR did not prefetch: fetched from a loopback FHIR server ---------------

import http.server  # noqa: E402
import threading  # noqa: E402
import urllib.parse  # noqa: E402


class FhirResponder:
    """A small FHIR server on loopback: Patient/{id} and searches by patient, in pages
    of 20 with `next` links; requests without the expected bearer token get 401."""

    def __init__(self, resources, token="test-token"):
        self.resources, self.token, self.seen = resources, token, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.seen.append((self.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    return self.answer(401, {"resourceType": "OperationOutcome"})
                url = urllib.parse.urlparse(self.path)
                parts = url.path.split("/")[2:]  # after /fhir
                query = urllib.parse.parse_qs(url.query)
                if len(parts) == 2:
                    found = [r for r in outer.resources if r["resourceType"] == parts[0] and r["id"] == parts[1]]
                    return self.answer(200, found[0]) if found else self.answer(404, {"resourceType": "OperationOutcome"})
                patient = query.get("patient", [""])[0]
                matches = [r for r in outer.resources if r["resourceType"] == parts[0] and
                           (r.get("subject") or r.get("patient") or {}).get("reference", "").endswith("/" + patient)]
                start = int(query.get("_offset", ["0"])[0])
                bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                          "entry": [{"resource": r} for r in matches[start:start + 20]]}
                if start + 20 < len(matches):
                    bundle["link"] = [{"relation": "next", "url": f"http://127.0.0.1:{outer.port}/fhir/{parts[0]}?patient={patient}&_offset={start + 20}"}]
                self.answer(200, bundle)

            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/fhir"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


SYNTHEA = ROOT.parent / "shared" / "fhir" / "synthea-10-patients"


@pytest.mark.skipif(not SYNTHEA.exists(), reason="../shared/fhir not present")
def test_missing_prefetch_is_fetched_from_fhir_server(server, concept_codes):
    resources = []
    for name in ("Patient", "Condition", "MedicationRequest", "Device", "Procedure"):
        resources += [json.loads(l) for l in open(SYNTHEA / f"{name}.ndjson") if l.strip()]
    # A vignette patient with ranked options, as a FHIR server would hold it.
    name, profile = next((n, p) for n, p in vignettes() if n.startswith("vignettes/"))
    bundle, _ = write_bundle(dict(profile, id="vignette-patient"), concept_codes)
    vignette = [e["resource"] for e in prefetch_of_entries(bundle)]
    fhir = FhirResponder(resources + vignette)
    try:
        today = datetime.datetime.utcnow().date().isoformat()
        rs = stimrank.load()
        # The vignette: nothing prefetched, everything fetched; the card ranks as
        # evaluate_fhir ranks the same record.
        request = call("vignette-patient", {})
        request.update({"fhirServer": fhir.url, "fhirAuthorization": {"access_token": "test-token", "token_type": "Bearer"}})
        status, body, _ = server.request("POST", f"/cds-services/{SERVICE}", request)
        assert status == 200, body
        expected = [(o["title"], o["status"]) for o in json.loads(rs.evaluate_fhir(
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in vignette]},
            as_of=today).to_json())["options"] if o["status"] in ("recommended", "consider")]
        cards = json.loads(body)["cards"]
        assert expected and [(t.replace("\\", ""), s) for t, s in ranking_of_card(cards[0])] == expected
        # A Synthea patient with many conditions: pages followed, no indication, no card.
        synthea_patient = json.loads(open(SYNTHEA / "Patient.ndjson").readline())["id"]
        request = call(synthea_patient, {})
        request.update({"fhirServer": fhir.url, "fhirAuthorization": {"access_token": "test-token"}})
        fhir.seen.clear()
        status, body, _ = server.request("POST", f"/cds-services/{SERVICE}", request)
        assert status == 200 and json.loads(body)["cards"] == [], body
        paths = [p for p, _ in fhir.seen]
        assert any(p.startswith(f"/fhir/Patient/{synthea_patient}") for p in paths)
        assert any("_offset=20" in p for p in paths), paths  # a `next` page was followed
        assert all(a == "Bearer test-token" for _, a in fhir.seen)
        # The wrong token: the Patient cannot be had → 412 with the reason.
        request["fhirAuthorization"]["access_token"] = "wrong"
        status, body, _ = server.request("POST", f"/cds-services/{SERVICE}", request)
        assert status == 412 and "HTTP 401" in operation_outcome(body), body
    finally:
        fhir.close()


def prefetch_of_entries(bundle):
    prefetch = prefetch_of(bundle)
    entries = [{"resource": prefetch.pop("patient")}]
    for value in prefetch.values():
        entries += value["entry"]
    return entries


# ---- the explanation page in a real browser (Debian chromium, headless) ---------------

import shutil  # noqa: E402


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (scripts/common.sh installs it)")
def test_explanation_page_in_a_real_browser(server, tmp_path):
    card = one_card(server)
    url = card["links"][0]["url"]
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(browser + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    # The rendered DOM holds the ranking, each option's status and reasons, and DOI links.
    assert '<table id="ranking">' in dom, dom[:500]
    rows = re.findall(r'<tr class="(recommended|consider|not_indicated|excluded|research_only)">', dom)
    assert len(rows) == 21 and rows[0] in ("recommended", "consider"), rows
    assert re.search(r'<a class="doi" href="https://doi.org/10\.[^"]+">doi:10\.', dom)
    assert "reasons" in dom and "indication:" in dom
    # A screenshot, kept as a test artefact.
    artefacts = pathlib.Path(os.environ.get("STIMRANK_ARTIFACTS", ROOT / "build" / "test-artifacts"))
    artefacts.mkdir(parents=True, exist_ok=True)
    shot = artefacts / "explanation-page.png"
    subprocess.run(browser + ["--window-size=1280,1800", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000


# ---- order-select / order-sign: a neuromodulation order checked against the patient ---

def order_request(hook, patient_bundle, options, selections=None):
    request = call("p5", prefetch_of(patient_bundle))
    request["hook"] = hook
    request["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "ServiceRequest", "id": f"sr{i}", "status": "draft", "intent": "proposal",
                      "subject": {"reference": "Patient/p5"},
                      "code": {"coding": [{"system": "urn:stimrank:option", "code": option}]}}}
        for i, option in enumerate(options)] + [
        {"resource": {"resourceType": "MedicationRequest", "id": "m1", "status": "draft", "intent": "order",
                      "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "243670"}]}}}]}
    if selections is not None:
        request["context"]["selections"] = selections
    return request


def test_orders_are_checked_against_the_patient(server):
    status, body, _ = server.request("GET", "/cds-services")
    hooks = {s["id"]: s["hook"] for s in json.loads(body)["services"]}
    assert hooks == {"stimrank-patient-view": "patient-view", "stimrank-order-select": "order-select",
                     "stimrank-order-sign": "order-sign"}
    # A patient with a cardiac pacemaker and postherpetic neuralgia.
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p5", "birthDate": "1948-04-04", "gender": "male"}},
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p5"},
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "2177002"}]}}},
        {"resource": {"resourceType": "Device", "id": "d1", "status": "active", "patient": {"reference": "Patient/p5"},
                      "type": {"coding": [{"system": "http://snomed.info/sct", "code": "424921004"}]}}}]}
    today = datetime.datetime.utcnow().date().isoformat()
    statuses = {o["option"]: o["status"] for o in json.loads(stimrank.load().evaluate_fhir(
        {"resourceType": "Bundle", "type": "collection", "entry": [dict(e, resource=dict(e["resource"])) for e in bundle["entry"]]},
        as_of=today).to_json())["options"]}
    assert statuses["tens_conventional"] == "excluded"
    not_indicated = next(o for o, s in statuses.items() if s == "not_indicated")
    ordered = ["tens_conventional", not_indicated, "no_such_option"]
    status, body, _ = server.request("POST", "/cds-services/stimrank-order-sign", order_request("order-sign", bundle, ordered))
    assert status == 200, body
    cards = json.loads(body)["cards"]
    assert [c["indicator"] for c in cards] == ["critical", "warning", "warning"], cards
    assert cards[0]["summary"].startswith("Contraindicated for this patient: TENS")
    assert "absolute_contraindication" in cards[0]["detail"], cards[0]["detail"]
    assert "not indicated" in cards[1]["summary"] and "does not know" in cards[2]["summary"]
    # order-select: only the selected orders are checked.
    status, body, _ = server.request("POST", "/cds-services/stimrank-order-select",
                                     order_request("order-select", bundle, ordered, selections=["ServiceRequest/sr1"]))
    assert status == 200 and [c["indicator"] for c in json.loads(body)["cards"]] == ["warning"], body
    # A draft order for something else gets no card; a wrong hook for the service is 400.
    status, body, _ = server.request("POST", "/cds-services/stimrank-order-sign", order_request("order-sign", bundle, []))
    assert status == 200 and json.loads(body)["cards"] == []
    status, body, _ = server.request("POST", "/cds-services/stimrank-order-sign", order_request("order-select", bundle, []))
    assert status == 400 and "order-sign" in operation_outcome(body)
    request = order_request("order-sign", bundle, [])
    del request["context"]["draftOrders"]
    status, body, _ = server.request("POST", "/cds-services/stimrank-order-sign", request)
    assert status == 400 and "draftOrders" in operation_outcome(body)


# ---- the HTTP transport (Boost.Beast)

def _raw(base, data, read_until=b"\r\n\r\n", timeout=5):
    import socket
    host, port = base[len("http://"):].split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.sendall(data)
    got = b""
    while read_until not in got:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return sock, got


def test_a_slow_or_idle_connection_holds_no_thread():
    """One request thread: a client that sent half a request, and one that sent
    nothing, must not keep a third from being answered at once."""
    one = Server("--allow-unauthenticated", "--threads", "1")
    try:
        slow, _ = _raw(one.base, b"POST /cds-services/stimrank-patient-view HTTP/1.1\r\nHost: x\r\n", read_until=b"")
        idle, _ = _raw(one.base, b"", read_until=b"")
        status, body, _ = one.request("GET", "/cds-services")
        assert status == 200 and json.loads(body)["services"]
        # Answered while both are still open: not after their timeouts closed them.
        for waiting in (slow, idle):
            waiting.setblocking(False)
            with pytest.raises(BlockingIOError):
                waiting.recv(1)  # b"" would mean the server had closed it
        slow.close()
        idle.close()
    finally:
        code, err = one.stop()
    assert code == 0, err


def test_expect_100_continue_and_malformed_http(server):
    body = json.dumps({"hook": "patient-view", "hookInstance": "x", "context": {}}).encode()
    head = (f"POST /cds-services/{SERVICE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").encode()
    sock, got = _raw(server.base, head)
    assert got.startswith(b"HTTP/1.1 100 Continue"), got  # the client may send the body now
    sock.sendall(body)
    answer = got.split(b"\r\n\r\n", 1)[1]
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400") and b"patientId" in answer, answer
    # Not HTTP at all: 400 with the spec's body, and the connection closed.
    sock, got = _raw(server.base, b"GARBAGE\x01 / NONSENSE\r\n\r\n", read_until=b"}")
    sock.close()
    assert got.startswith(b"HTTP/1.1 400"), got
    assert b"OperationOutcome" in got and b"Access-Control-Allow-Origin: *" in got


def test_out_of_file_descriptors_the_server_waits_instead_of_spinning():
    # Connections up to the descriptor limit (64, soft and hard, so that serve cannot
    # raise it): accept() fails with EMFILE while the pending connection stays queued.
    # Accepting again at once spun a core (2 s of CPU in 2 s); the server now tries
    # every 100 ms, says so once, and serves again once connections close.
    import resource
    limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    server = Server("--allow-unauthenticated", "--threads", "1", preexec_fn=limit)
    port = int(server.base.rsplit(":", 1)[1])
    def cpu_seconds():
        fields = open(f"/proc/{server.process.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    held = []
    try:
        for _ in range(120):
            s = socket.socket()
            s.settimeout(2)
            s.connect(("127.0.0.1", port))
            held.append(s)
        before = cpu_seconds()
        time.sleep(2)
        assert cpu_seconds() - before < 1.0, "the accept loop spins while out of descriptors"
    finally:
        for s in held:
            s.close()
    deadline = time.time() + 20
    while True:  # the idle connections it did accept close within 5 s
        try:
            status, _, _ = server.request("GET", "/cds-services")
            break
        except OSError:
            assert time.time() < deadline
            time.sleep(0.2)
    assert status == 200
    code, err = server.stop()
    assert code == 0
    assert err.count("cannot accept a connection (Too many open files): trying again every 100 ms") >= 1, err

