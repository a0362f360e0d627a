"""A small FHIR R4 server of our own on 127.0.0.1, for the CDS service's fallback reads:
it serves reads (`Type/id`) and searches (`Type?patient=…`, filtered on `patient` and
`code` only) from a dict of resources, checks the Bearer token when one is configured,
and records every request so tests can see what the service asked for."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FhirStub:
    def __init__(self, resources: list[dict[str, Any]], *, token: str | None = None) -> None:
        self.resources = resources
        self.token = token
        self.requests: list[tuple[str, str | None]] = []  # (path?query, Authorization)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Authorization")))
                if owner.token is not None and \
                        self.headers.get("Authorization") != f"Bearer {owner.token}":
                    self._reply(401, {"resourceType": "OperationOutcome", "issue": [
                        {"severity": "error", "code": "login"}]})
                    return
                status, body = owner.answer(self.path)
                self._reply(status, body)

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,),
                                       daemon=True)
        self.thread.start()

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        route = parts.path.removeprefix("/fhir/").strip("/")
        if "/" in route:
            kind, _, rid = route.partition("/")
            for resource in self.resources:
                if resource["resourceType"] == kind and resource.get("id") == rid:
                    return 200, resource
            return 404, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-found"}]}
        query = parse_qs(parts.query)
        patient = query.get("patient", [None])[0]
        codes = {c.split("|")[-1] for c in ",".join(query.get("code", [])).split(",") if c}
        matches = []
        for resource in self.resources:
            if resource["resourceType"] != route:
                continue
            subject = (resource.get("subject") or resource.get("patient") or {}).get(
                "reference")
            if patient is not None and subject != f"Patient/{patient}":
                continue
            if codes and not codes & {c.get("code") for c in
                                      resource.get("code", {}).get("coding", [])}:
                continue
            matches.append(resource)
        return 200, {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                     "entry": [{"resource": r, "search": {"mode": "match"}}
                               for r in matches]}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@contextmanager
def fhir_stub(resources: list[dict[str, Any]], *, token: str | None = None
              ) -> Iterator[FhirStub]:
    stub = FhirStub(resources, token=token)
    try:
        yield stub
    finally:
        stub.close()


# ---------------------------------------------------------------- patients and requests

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
OXYCODONE = {"coding": [{"system": RXNORM, "code": "7804", "display": "oxycodone"}]}
BACLOFEN = {"text": "Baclofen 10 MG Oral Tablet"}


def patient_resources(patient_id: str = "p1", *, medicines: tuple[dict[str, Any], ...] = (),
                      condition: str | None = "Multiple sclerosis",
                      egfr: float | None = 95.0) -> list[dict[str, Any]]:
    """One patient's FHIR R4 resources: the Patient, an active condition, active
    MedicationRequests for `medicines` (CodeableConcepts), an eGFR."""
    subject = {"reference": f"Patient/{patient_id}"}
    found: list[dict[str, Any]] = [{"resourceType": "Patient", "id": patient_id,
                                    "birthDate": "1975-03-02", "gender": "female"}]
    if condition:
        found.append({"resourceType": "Condition", "id": f"{patient_id}-c1",
                      "clinicalStatus": {"coding": [{
                          "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                          "code": "active"}]},
                      "code": {"text": condition}, "subject": subject})
    for index, medicine in enumerate(medicines):
        found.append({"resourceType": "MedicationRequest", "id": f"{patient_id}-m{index}",
                      "status": "active", "intent": "order",
                      "medicationCodeableConcept": medicine, "subject": subject})
    if egfr is not None:
        found.append({"resourceType": "Observation", "id": f"{patient_id}-egfr",
                      "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "98979-8"}]},
                      "effectiveDateTime": "2026-10-01", "subject": subject,
                      "valueQuantity": {"value": egfr, "unit": "mL/min/{1.73_m2}"}})
    return found


def prefetch_of(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The prefetch medsafe's templates ask for, filled from `resources`."""
    def searchset(kind: str) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": r} for r in resources if r["resourceType"] == kind]}

    patient = next((r for r in resources if r["resourceType"] == "Patient"), None)
    return {"patient": patient, "conditions": searchset("Condition"),
            "medications": searchset("MedicationRequest"),
            "kidney": searchset("Observation"), "allergies": searchset("AllergyIntolerance")}


def draft_order(medicine: dict[str, Any], *, order_id: str = "draft-1",
                patient_id: str = "p1", dose: str = "5 mg three times a day"
                ) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": order_id, "status": "draft",
            "intent": "order", "medicationCodeableConcept": medicine,
            "subject": {"reference": f"Patient/{patient_id}"},
            "dosageInstruction": [{"text": dose}]}


def hook_request(hook: str, orders: list[dict[str, Any]], *, patient_id: str = "p1",
                 prefetch: dict[str, Any] | None = None, fhir_server: str | None = None,
                 token: str | None = None, instance: str = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
                 ) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": patient_id,
                               "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                               "entry": [{"resource": o} for o in orders]}}
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{o['id']}" for o in orders if "id" in o]
    request: dict[str, Any] = {"hook": hook, "hookInstance": instance, "context": context}
    if prefetch is not None:
        request["prefetch"] = prefetch
    if fhir_server is not None:
        request["fhirServer"] = fhir_server
    if token is not None:
        request["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer",
                                        "expires_in": 300, "scope": "patient/*.read",
                                        "subject": "medsafe"}
    return request
