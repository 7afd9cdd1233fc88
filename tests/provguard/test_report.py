"""Tests for provguard.report: the Report dataclasses, their JSON form and failure-code walking."""

from __future__ import annotations

import json

from provguard.report import (
    ABSENT,
    INVALID,
    SCHEMA_VERSION,
    TRUSTED,
    VALID,
    Ingredient,
    Provenance,
    Report,
    SoftBinding,
    all_failure_codes,
)


def _nested() -> Provenance:
    leaf = Ingredient("leaf.png", "componentOf", "image/png", INVALID, failure_codes=["claimSignature.mismatch"])
    codes = ["assertion.dataHash.mismatch", "signingCredential.untrusted"]
    middle = Ingredient("mid.jpg", "parentOf", "image/jpeg", INVALID, failure_codes=codes, ingredients=[leaf])
    return Provenance(state=VALID, failure_codes=["signingCredential.untrusted"], ingredients=[middle])


def test_states_are_plain_strings() -> None:
    assert (ABSENT, INVALID, VALID, TRUSTED) == ("absent", "invalid", "valid", "trusted")
    assert SCHEMA_VERSION == 1


def test_to_dict_puts_schema_version_first_and_round_trips_through_json() -> None:
    report = Report(path="a.jpg", media_type="image/jpeg", sha256="0" * 64, provenance=_nested())
    report.provenance.soft_bindings.append(SoftBinding("alg", "ff"))
    body = report.to_dict()
    assert next(iter(body)) == "schema_version"
    assert body["schema_version"] == 1
    parsed = json.loads(report.to_json())
    assert parsed == body
    assert parsed["provenance"]["ingredients"][0]["ingredients"][0]["title"] == "leaf.png"
    assert parsed["provenance"]["soft_bindings"] == [{"alg": "alg", "value": "ff"}]
    assert "\n" not in report.to_json() and "\n" in report.to_json(indent=2)


def test_to_json_keeps_non_ascii_text() -> None:
    report = Report(path="café/photo.jpg")
    assert "café" in report.to_json()


def test_readable_follows_errors() -> None:
    assert Report(path="x").readable
    assert not Report(path="x", errors=["file is empty"]).readable


def test_default_provenance_is_absent_and_lists_are_not_shared() -> None:
    one, two = Report(path="a"), Report(path="b")
    assert one.provenance.state == ABSENT
    one.errors.append("x")
    one.provenance.failure_codes.append("y")
    assert two.errors == [] and two.provenance.failure_codes == []


def test_all_failure_codes_walks_ingredients_without_repeats() -> None:
    assert all_failure_codes(_nested()) == [
        "signingCredential.untrusted", "assertion.dataHash.mismatch", "claimSignature.mismatch",
    ]
    assert all_failure_codes(Provenance()) == []
