"""The knowledge base's vignettes written as FHIR R4 Bundles (issue 23).

Each vignette's profile is split into what a FHIR record can state (age, sex,
pregnancy, coded conditions with their laterality and refutation, pain severity,
HbA1c, BMI, coded medications, devices and spine operations with a code the mapping
knows) and the rest (pain regions, tried treatments, assessments, setting,
preferences, stimulation trials), which no FHIR resource the mapping reads carries.
The first part is written as a Bundle, mapped back with `from_fhir`, joined with the
rest, and evaluated: every option must get the same status, rank, score, reasons and
missing data as the profile itself. A list is moved whole or not at all, so a list
stays as complete as the vignette wrote it; an empty list is written as a resource
that does not count (a resolved Condition, a stopped drug, a removed Device, a
procedure not done), which is how a record says "none" without saying it by silence.
"""
import copy
import json
import os
import pathlib
import subprocess

import pytest

import stimrank

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = os.environ.get("STIMRANK_CLI", str(ROOT / "build" / "stimrank"))
AS_OF = "2026-12-01"
SNOMED = "http://snomed.info/sct"
SYSTEMS = {"snomed": SNOMED, "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
           "icd10": "http://hl7.org/fhir/sid/icd-10",
           "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm", "atc": "http://www.whocc.no/atc"}
# The device types engine/fhir/fhir.cpp reads (its sources are cited there).
DEVICE_CODES = {"cardiac_pacemaker": "424921004", "implantable_defibrillator": "72506001",
                "cochlear_implant": "43252007"}
LATERALITY = {"left": "7771000", "right": "24028007", "bilateral": "51440002"}
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def merged(base, overlay):
    """As `stimrank test` merges a case onto its table's base."""
    if not isinstance(base, dict) or not isinstance(overlay, dict):
        return copy.deepcopy(overlay)
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        out[key] = merged(out[key], value) if key in out else copy.deepcopy(value)
    return out


def vignettes():
    for path in sorted((ROOT / "knowledge" / "tests").glob("*.json")):
        document = json.loads(path.read_text())
        base = document.get("base", {}) if isinstance(document, dict) else {}
        cases = document["cases"] if isinstance(document, dict) else document
        for case in cases:
            profile = merged(base, case.get("profile", {}))
            profile.setdefault("id", case["name"])  # as `stimrank test` names a case
            yield f"{path.stem}/{case['name']}", profile


@pytest.fixture(scope="module")
def concept_codes():
    return load_concept_codes()


def load_concept_codes():
    """Concept id → (system, code) for the FHIR coding, from `stimrank table`."""
    table = subprocess.run([CLI, "table"], check=True, capture_output=True, text=True).stdout
    codes = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) < 4 or cells[2] != "concept" or not cells[3]:
            continue
        listed = [c.split(":", 1) for c in cells[3].split(", ")]
        snomed = [code for system, code in listed if system == "snomed"]
        icd = [code for system, code in listed if system == "icd10"]
        if snomed:
            codes[cells[0]] = ("snomed", snomed[0])
        elif icd:
            codes[cells[0]] = ("icd10cm", icd[0])
    return codes


class Writer:
    """One patient's Bundle, resource by resource."""

    def __init__(self, patient_id):
        self.patient = f"urn:uuid:{patient_id}"
        self.entries = []
        self.count = 0

    def add(self, resource, subject="subject"):
        self.count += 1
        resource.setdefault("id", f"r{self.count}")
        resource[subject] = {"reference": self.patient}
        self.entries.append({"fullUrl": f"urn:uuid:r{self.count}", "resource": resource})

    def observation(self, loinc, value=None, answer=None):
        body = {"resourceType": "Observation", "status": "final", "effectiveDateTime": AS_OF,
                "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]}}
        if value is not None:
            body["valueQuantity"] = {"value": value}
        if answer is not None:
            body["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": answer}]}
        self.add(body)


def condition_coding(entry, concept_codes):
    """The FHIR coding for one conditions[] entry, or None when it has none."""
    if isinstance(entry, str):
        return concept_codes.get(entry)
    if entry.get("system") in SYSTEMS:
        return entry["system"], entry["code"]
    return concept_codes.get(entry.get("code")) if entry.get("system") == "local" else None


def write_bundle(profile, concept_codes):
    """(bundle, rest): the FHIR-expressible part as a Bundle, the rest as a profile."""
    rest = copy.deepcopy(profile)
    pid = str(profile.get("id", "vignette"))
    w = Writer(pid)
    patient = {"resourceType": "Patient", "id": pid}
    if "age" in rest:
        patient["birthDate"] = f"{int(AS_OF[:4]) - rest.pop('age') - 1}-12-31"
    if rest.get("sex") in ("female", "male", "other", "unknown"):
        patient["gender"] = rest.pop("sex")
    w.entries.append({"fullUrl": w.patient, "resource": patient})
    if "pregnant" in rest:
        w.observation("82810-3", answer="77386006" if rest.pop("pregnant") else "60001007")

    conditions = rest.get("conditions")
    if conditions is not None and all(condition_coding(c, concept_codes) for c in conditions):
        for entry in rest.pop("conditions"):
            system, code = condition_coding(entry, concept_codes)
            body = {"resourceType": "Condition",
                    "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
                    "code": {"coding": [{"system": SYSTEMS[system], "code": code}]}}
            if isinstance(entry, dict) and entry.get("present") is False:
                body["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": "refuted"}]}
            if isinstance(entry, dict) and entry.get("laterality"):
                body["bodySite"] = [{"coding": [{"system": SNOMED, "code": LATERALITY[entry["laterality"]]}]}]
            w.add(body)
        if not conditions:  # "none": a record with a condition that is no longer current
            w.add({"resourceType": "Condition",
                   "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "resolved"}]},
                   "code": {"coding": [{"system": SNOMED, "code": "2177002"}]}})

    pain = rest.get("pain", {})
    if "nrs" in pain:
        w.observation("72514-3", value=pain.pop("nrs"))
    assessments = rest.get("assessments", {})
    for field, loinc in (("hba1c_percent", "4548-4"), ("bmi", "39156-5")):
        if field in assessments:
            w.observation(loinc, value=assessments.pop(field))

    medications = rest.get("medications")
    if medications is not None and all(isinstance(m, dict) and m.get("system") in ("rxnorm", "atc")
                                       for m in medications):
        for m in rest.pop("medications"):
            w.add({"resourceType": "MedicationRequest", "status": "active",
                   "medicationCodeableConcept": {"coding": [{"system": SYSTEMS[m["system"]], "code": m["code"]}]}})
        if not medications:
            w.add({"resourceType": "MedicationRequest", "status": "completed",
                   "medicationCodeableConcept": {"text": "paracetamol"}})

    devices = rest.get("devices")
    if devices is not None and all(d in DEVICE_CODES for d in devices):
        for d in rest.pop("devices"):
            w.add({"resourceType": "Device", "status": "active",
                   "type": {"coding": [{"system": SNOMED, "code": DEVICE_CODES[d]}]}}, subject="patient")
        if not devices:
            w.add({"resourceType": "Device", "status": "inactive",
                   "type": {"coding": [{"system": SNOMED, "code": "72506001"}]}}, subject="patient")

    procedures = rest.get("procedures")
    if procedures is not None and all(p == {"option": "spine_surgery", "kind": "surgery"} for p in procedures):
        for _ in rest.pop("procedures"):
            w.add({"resourceType": "Procedure", "status": "completed", "performedDateTime": "2015-05-05",
                   "code": {"coding": [{"system": SNOMED, "code": "387731002"}]}})
        if not procedures:
            w.add({"resourceType": "Procedure", "status": "not-done",
                   "code": {"coding": [{"system": SNOMED, "code": "387731002"}]}})

    for key in ("pain", "assessments"):
        if key in rest and not rest[key]:
            del rest[key]
    return {"resourceType": "Bundle", "type": "collection", "entry": w.entries}, rest


def outcome(result):
    return [{k: o[k] for k in ("option", "status", "rank", "score", "reasons", "missing")}
            for o in json.loads(result.to_json())["options"]]


def test_vignettes_rank_alike_through_fhir(concept_codes):
    rs = stimrank.load()
    cases = list(vignettes())
    assert len(cases) >= 140, len(cases)
    moved = {"conditions": 0, "devices": 0, "procedures": 0, "medications": 0}
    failures = []
    for name, profile in cases:
        bundle, rest = write_bundle(profile, concept_codes)
        for field in moved:
            moved[field] += field in profile and field not in rest
        mapping = stimrank.from_fhir(bundle, as_of=AS_OF, rules=rs)
        via_fhir = outcome(rs.evaluate(merged(rest, mapping.profile)))
        direct = outcome(rs.evaluate(profile))
        if via_fhir != direct:
            pairs = zip(direct, via_fhir)
            a, b = next((a, b) for a, b in pairs if a != b)
            brief = lambda o: (o["option"], o["status"], o["rank"], o["score"], [r["rule"] for r in o["reasons"]], o["missing"])
            failures.append(f"{name}: profile {brief(a)} / FHIR {brief(b)}")
    assert not failures, f"{len(failures)} vignettes rank differently:\n" + "\n".join(failures[:5])
    # The check is not vacuous: most vignettes' lists went through FHIR.
    assert moved["conditions"] >= 100 and moved["devices"] >= 120 and moved["procedures"] >= 80 and moved["medications"] >= 140, moved


def test_a_vignette_bundle_is_read_as_written(concept_codes):
    """One vignette, field by field: what the Bundle states comes back as the profile had it."""
    profile = {"id": "v-1", "age": 71, "sex": "female", "pregnant": False,
               "conditions": ["postherpetic_neuralgia", {"system": "icd10cm", "code": "G40.909", "present": False}],
               "pain": {"nrs": 7, "regions": ["thoracic"]}, "devices": ["cardiac_pacemaker"],
               "procedures": [], "assessments": {"hba1c_percent": 6.1, "bmi": 27.5}}
    bundle, rest = write_bundle(profile, concept_codes)
    assert rest == {"id": "v-1", "pain": {"regions": ["thoracic"]}}, rest
    got = stimrank.from_fhir(bundle, as_of=AS_OF).profile
    assert got["age"] == 71 and got["sex"] == "female" and got["pregnant"] is False
    assert {"system": "snomed", "code": "2177002"} in got["conditions"]
    assert {"system": "icd10cm", "code": "G40.909", "present": False} in got["conditions"]
    assert got["pain"] == {"nrs": 7} and got["devices"] == ["cardiac_pacemaker"] and got["procedures"] == []
    assert got["assessments"] == {"hba1c_percent": 6.1, "bmi": 27.5}
