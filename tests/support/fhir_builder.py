"""Builds FHIR R4 Bundles for tests and examples, one readable call per fact.

    bundle = (PatientBundle(birth_date="1970-05-01", gender="female")
              .condition("Multiple sclerosis", snomed="24700007")
              .medication("Oxycodone 5 mg tablet", rxnorm="7804")
              .egfr(45)
              .build())
"""

from __future__ import annotations

from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
PREFERENCE = "urn:medsafe:patient-preference"
SEVERITY_SNOMED = {"mild": "255604002", "moderate": "6736007", "severe": "24484000"}


class PatientBundle:
    def __init__(self, patient_id: str = "example", birth_date: str | None = "1975-03-14",
                 gender: str | None = "female") -> None:
        self.patient_id = patient_id
        patient: dict[str, Any] = {"resourceType": "Patient", "id": patient_id}
        if birth_date:
            patient["birthDate"] = birth_date
        if gender:
            patient["gender"] = gender
        self.resources: list[dict[str, Any]] = [patient]
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}-{self._n}"

    def _subject(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.patient_id}"}

    def add(self, resource: dict[str, Any]) -> PatientBundle:
        self.resources.append(resource)
        return self

    def condition(self, text: str, *, snomed: str | None = None, severity: str | None = None,
                  status: str = "active") -> PatientBundle:
        code: dict[str, Any] = {"text": text}
        if snomed:
            code["coding"] = [{"system": SNOMED, "code": snomed, "display": text}]
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self._id("cond"),
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": status}]},
            "code": code,
            "subject": self._subject(),
        }
        if severity:
            resource["severity"] = {"coding": [{"system": SNOMED,
                                                "code": SEVERITY_SNOMED[severity],
                                                "display": severity.capitalize()}]}
        return self.add(resource)

    def medication(self, text: str, *, rxnorm: str | None = None, status: str = "active",
                   request: bool = False) -> PatientBundle:
        concept: dict[str, Any] = {"text": text}
        if rxnorm:
            concept["coding"] = [{"system": RXNORM, "code": rxnorm, "display": text}]
        if request:
            return self.add({
                "resourceType": "MedicationRequest", "id": self._id("medrx"),
                "status": status, "intent": "order",
                "medicationCodeableConcept": concept, "subject": self._subject(),
            })
        return self.add({
            "resourceType": "MedicationStatement", "id": self._id("medst"),
            "status": status, "medicationCodeableConcept": concept,
            "subject": self._subject(),
        })

    def medication_reference(self, text: str, *, contained: bool = True) -> PatientBundle:
        med_id = self._id("med")
        medication = {"resourceType": "Medication", "id": med_id, "code": {"text": text}}
        request: dict[str, Any] = {
            "resourceType": "MedicationRequest", "id": self._id("medrx"), "status": "active",
            "intent": "order", "subject": self._subject(),
        }
        if contained:
            request["contained"] = [medication]
            request["medicationReference"] = {"reference": f"#{med_id}"}
            return self.add(request)
        request["medicationReference"] = {"reference": f"Medication/{med_id}"}
        self.add(medication)
        return self.add(request)

    def allergy(self, text: str, *, rxnorm: str | None = None,
                reaction: str | None = None) -> PatientBundle:
        code: dict[str, Any] = {"text": text}
        if rxnorm:
            code["coding"] = [{"system": RXNORM, "code": rxnorm, "display": text}]
        resource: dict[str, Any] = {
            "resourceType": "AllergyIntolerance", "id": self._id("allergy"),
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "code": "active"}]},
            "code": code, "patient": self._subject(),
        }
        if reaction:
            resource["reaction"] = [{"manifestation": [{"text": reaction}]}]
        return self.add(resource)

    def observation(self, text: str, value: float, unit: str, *, loinc: str | None = None,
                    high: float | None = None, date: str = "2026-10-01") -> PatientBundle:
        code: dict[str, Any] = {"text": text}
        if loinc:
            code["coding"] = [{"system": LOINC, "code": loinc, "display": text}]
        resource: dict[str, Any] = {
            "resourceType": "Observation", "id": self._id("obs"), "status": "final",
            "code": code, "subject": self._subject(), "effectiveDateTime": date,
            "valueQuantity": {"value": value, "unit": unit},
        }
        if high is not None:
            resource["referenceRange"] = [{"high": {"value": high, "unit": unit}}]
        return self.add(resource)

    def egfr(self, value: float, date: str = "2026-10-01") -> PatientBundle:
        return self.observation("eGFR (CKD-EPI 2021)", value, "mL/min/1.73m2",
                                loinc="98979-8", date=date)

    def crcl(self, value: float) -> PatientBundle:
        return self.observation("Creatinine clearance", value, "mL/min")

    def alt(self, value: float, upper: float = 40) -> PatientBundle:
        return self.observation("ALT", value, "U/L", loinc="1742-6", high=upper)

    def ast(self, value: float, upper: float = 40) -> PatientBundle:
        return self.observation("AST", value, "U/L", loinc="1920-8", high=upper)

    def child_pugh(self, klass: str) -> PatientBundle:
        return self.add({
            "resourceType": "Observation", "id": self._id("obs"), "status": "final",
            "code": {"text": "Child-Pugh class"}, "subject": self._subject(),
            "valueString": klass,
        })

    def pregnant(self, yes: bool = True) -> PatientBundle:
        return self.add({
            "resourceType": "Observation", "id": self._id("obs"), "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "82810-3",
                                 "display": "Pregnancy status"}]},
            "subject": self._subject(),
            "valueCodeableConcept": {"text": "Pregnant" if yes else "Not pregnant"},
        })

    def preference(self, code: str, value: str) -> PatientBundle:
        return self.add({
            "resourceType": "Observation", "id": self._id("pref"), "status": "final",
            "code": {"coding": [{"system": PREFERENCE, "code": code}]},
            "subject": self._subject(), "valueString": value,
        })

    def prefers_route(self, route: str) -> PatientBundle:
        return self.preference("preferred-route", route)

    def avoids(self, side_effect: str) -> PatientBundle:
        return self.preference("avoid-side-effect", side_effect)

    def build(self) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": f"https://ehr.example/fhir/{r['resourceType']}/{r.get('id', i)}",
                 "resource": r}
                for i, r in enumerate(self.resources)
            ],
        }
