"""Tests for provguard.manifest: the manifest definition, c2pa settings, and turning c2pa's JSON into Provenance."""

from __future__ import annotations

import io
from typing import Any

import pytest

from provguard import __version__
from provguard.errors import CorruptMediaError, SigningError, TimestampAuthorityError, UnsupportedMediaError
from provguard.manifest import (
    AI_SOURCE_TYPES,
    IPTC_SOURCE_TYPES,
    SOURCE_TYPES,
    ManifestSpec,
    ParentIngredient,
    _manifest_definition,
    _provenance_from_error,
    _signing_error,
    provenance_from_store,
    read_provenance,
    settings,
    sign_into,
    source_type_name,
    source_type_url,
)
from provguard.media import JPEG, PNG
from provguard.report import ABSENT, INVALID, TRUSTED, VALID


def test_source_type_url_and_name_round_trip() -> None:
    for name in SOURCE_TYPES:
        url = source_type_url(name)
        assert url == IPTC_SOURCE_TYPES + name
        assert source_type_name(url) == name
    assert source_type_url("https://example.org/custom") == "https://example.org/custom"
    assert source_type_name(None) is None and source_type_name("") is None
    assert "trainedAlgorithmicMedia" in AI_SOURCE_TYPES and "digitalCapture" not in AI_SOURCE_TYPES


def test_unknown_source_type_names_the_choices() -> None:
    with pytest.raises(ValueError, match="trainedAlgorithmicMedia"):
        source_type_url("aiGenerated")


def test_settings_are_offline_without_thumbnails() -> None:
    conf = settings()
    assert conf["verify"] == {"remote_manifest_fetch": False, "ocsp_fetch": False}
    assert conf["builder"]["thumbnail"]["enabled"] is False
    assert "trust_anchors" not in conf.get("trust", {})
    anchored = settings(b"-----BEGIN CERTIFICATE-----\n...", thumbnail=True)
    assert anchored["trust"]["trust_anchors"].startswith("-----BEGIN CERTIFICATE-----")
    assert "1.3.6.1.5.5.7.3.4" in anchored["trust"]["trust_config"]  # emailProtection is allowed
    assert anchored["builder"]["thumbnail"]["enabled"] is True


def test_manifest_definition_created() -> None:
    spec = ManifestSpec(title="t", generator_name="m", generator_version="1")
    definition = _manifest_definition(spec)
    assert definition["title"] == "t"
    assert definition["claim_generator_info"] == [{"name": "provguard", "version": __version__}]
    (actions,) = [a["data"]["actions"] for a in definition["assertions"] if a["label"] == "c2pa.actions"]
    assert actions == [
        {
            "action": "c2pa.created",
            "digitalSourceType": IPTC_SOURCE_TYPES + "trainedAlgorithmicMedia",
            "softwareAgent": {"name": "m", "version": "1"},
        }
    ]


def test_manifest_definition_with_parent() -> None:
    parent = ParentIngredient(data=b"", kind=JPEG, title="p.jpg")
    definition = _manifest_definition(ManifestSpec(title="t", digital_source_type="digitalCapture", parent=parent))
    (actions,) = [a["data"]["actions"] for a in definition["assertions"] if a["label"] == "c2pa.actions"]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[1]["digitalSourceType"].endswith("/digitalCapture")
    assert "softwareAgent" not in actions[1]


def test_signing_error_translation() -> None:
    tsa = _signing_error(RuntimeError("http error: connection refused"), "http://127.0.0.1:9/")
    assert isinstance(tsa, TimestampAuthorityError) and "timestamp authority" in str(tsa)
    cert = _signing_error(RuntimeError("the certificate is\ninvalid"), None)
    assert isinstance(cert, SigningError) and "\n" not in str(cert)
    other = _signing_error(RuntimeError("boom"), None)
    assert type(other) is SigningError and "boom" in str(other)


def test_sign_into_refuses_an_unknown_algorithm(media, dev_signer) -> None:  # noqa: ANN001
    class OddSigner:
        alg = "hs256"
        tsa_url = None

        def certificate_chain_pem(self) -> bytes:
            return dev_signer.certificate_chain_pem()

        def sign(self, data: bytes) -> bytes:
            return dev_signer.sign(data)

    with pytest.raises(SigningError, match="hs256"):
        sign_into(media("jpeg"), JPEG, ManifestSpec(title="t"), OddSigner(), io.BytesIO())


def test_read_provenance_absent_and_unsupported(media) -> None:  # noqa: ANN001
    assert read_provenance(media("png"), PNG).state == ABSENT


class ManifestNotFound(Exception):
    """Stands in for c2pa's exception of the same name."""


class NotSupported(Exception):
    """Stands in for c2pa's exception of the same name."""


def test_provenance_from_reader_errors() -> None:
    assert _provenance_from_error(ManifestNotFound("x")).state == ABSENT
    remote = _provenance_from_error(RuntimeError("Remote manifest from url https://cdn.example/m.c2pa not fetched"))
    assert remote.state == ABSENT and remote.remote_manifest_url == "https://cdn.example/m.c2pa"
    assert "provguard.manifest.remote" in remote.informational_codes
    with pytest.raises(UnsupportedMediaError):
        _provenance_from_error(NotSupported("type is unsupported"))
    with pytest.raises(CorruptMediaError, match="malformed"):
        _provenance_from_error(RuntimeError("the asset could not be parsed: bad box"))
    broken = _provenance_from_error(RuntimeError("something\nelse"))
    assert broken.state == INVALID and broken.failure_codes == ["provguard.manifest.malformed"]
    assert "\n" not in broken.explanations["provguard.manifest.malformed"]


def _store(failures: list[str], ingredient: dict[str, Any] | None = None, deltas: list[Any] | None = None) -> dict:
    """A minimal c2pa manifest-store JSON."""
    active: dict[str, Any] = {
        "title": "t",
        "label": "urn:c2pa:child",
        "claim_generator_info": [{"name": "provguard", "version": "9.9"}],
        "signature_info": {"issuer": "Org", "common_name": "CN", "alg": "Es256", "time": "2024-01-01T00:00:00Z"},
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": IPTC_SOURCE_TYPES + "trainedAlgorithmicMedia",
                 "softwareAgent": {"name": "gen", "version": "3"}}]}},
            {"label": "c2pa.soft-binding", "data": {"alg": "io.x", "blocks": [{"scope": {}, "value": "abcd"}]}},
        ],
        "ingredients": [ingredient] if ingredient else [],
    }
    manifests = {"urn:c2pa:child": active}
    if ingredient and ingredient.get("active_manifest"):
        manifests[ingredient["active_manifest"]] = {
            "label": ingredient["active_manifest"],
            "claim_generator_info": [{"name": "other", "version": "1"}],
            "signature_info": {"issuer": "Org", "common_name": "CN"},
            "assertions": [],
        }
    results: dict[str, Any] = {
        "activeManifest": {"failure": [{"code": c, "explanation": f"{c} happened"} for c in failures],
                           "informational": [{"code": "signingCredential.ocsp.skipped"}]},
    }
    if deltas is not None:
        results["ingredientDeltas"] = deltas
    return {"active_manifest": "urn:c2pa:child", "manifests": manifests, "validation_results": results}


def test_provenance_from_store_fields() -> None:
    prov = provenance_from_store(_store([]), "Trusted")
    assert prov.state == TRUSTED
    assert prov.title == "t" and prov.manifest_label == "urn:c2pa:child"
    assert (prov.issuer, prov.common_name, prov.signed_at) == ("Org", "CN", "2024-01-01T00:00:00Z")
    assert prov.signature_alg == "es256"
    assert prov.claim_generator == "provguard 9.9"
    assert prov.digital_source_type == "trainedAlgorithmicMedia"
    assert prov.software_agent == "gen 3"
    assert prov.informational_codes == ["signingCredential.ocsp.skipped"]
    assert [(b.alg, b.value) for b in prov.soft_bindings] == [("io.x", "abcd")]


@pytest.mark.parametrize(("c2pa_state", "state"), [("Trusted", TRUSTED), ("Valid", VALID), ("Invalid", INVALID),
                                                    ("Something", INVALID)])
def test_validation_state_mapping(c2pa_state: str, state: str) -> None:
    assert provenance_from_store(_store([]), c2pa_state).state == state


def test_failure_codes_are_distinct_with_explanations() -> None:
    prov = provenance_from_store(_store(["assertion.dataHash.mismatch", "assertion.dataHash.mismatch"]), "Invalid")
    assert prov.failure_codes == ["assertion.dataHash.mismatch"]
    assert prov.explanations["assertion.dataHash.mismatch"] == "assertion.dataHash.mismatch happened"


def _ingredient(recorded: list[str]) -> dict[str, Any]:
    return {
        "title": "parent.jpg",
        "format": "image/jpeg",
        "relationship": "parentOf",
        "label": "c2pa.ingredient.v3",
        "active_manifest": "urn:c2pa:parent",
        "validation_results": {"activeManifest": {"failure": [{"code": c} for c in recorded]}},
    }


def _delta(success: list[str], failure: list[str]) -> list[dict[str, Any]]:
    return [{
        "ingredientAssertionURI": "self#jumbf=/c2pa/urn:c2pa:child/c2pa.assertions/c2pa.ingredient.v3",
        "validationDeltas": {"success": [{"code": c} for c in success], "failure": [{"code": c} for c in failure],
                             "informational": []},
    }]


def test_ingredient_recorded_failures_are_reported() -> None:
    prov = provenance_from_store(_store([], _ingredient(["assertion.dataHash.mismatch"])), "Trusted")
    (ing,) = prov.ingredients
    assert ing.state == INVALID and ing.failure_codes == ["assertion.dataHash.mismatch"]
    assert ing.title == "parent.jpg" and ing.media_type == "image/jpeg" and ing.claim_generator == "other 1"


def test_ingredient_delta_failures_are_reported() -> None:
    store = _store([], _ingredient([]), _delta([], ["assertion.dataHash.mismatch"]))
    (ing,) = provenance_from_store(store, "Trusted").ingredients
    assert ing.state == INVALID and "assertion.dataHash.mismatch" in ing.failure_codes


def test_ingredient_untrusted_at_signing_but_trusted_now() -> None:
    # Signed without anchors, the parent was recorded as untrusted; the verifier's anchors now trust it,
    # and c2pa says so in the ingredient's validation deltas.
    store = _store([], _ingredient(["signingCredential.untrusted"]), _delta(["signingCredential.trusted"], []))
    (ing,) = provenance_from_store(store, "Trusted").ingredients
    assert ing.failure_codes == []
    assert ing.state == TRUSTED


def test_ingredient_without_manifest_is_absent() -> None:
    ingredient = {"title": "raw.png", "format": "image/png", "relationship": "parentOf", "label": "c2pa.ingredient.v3"}
    (ing,) = provenance_from_store(_store([], ingredient), "Valid").ingredients
    assert ing.state == ABSENT and ing.issuer is None


def test_recorded_tampering_survives_a_trust_delta() -> None:
    # The real c2pa output for a tampered, dev-signed parent verified under the dev root: the recorded results
    # hold the data-hash mismatch, the delta only says that the signer is trusted now.
    recorded = ["signingCredential.untrusted", "assertion.dataHash.mismatch"]
    now = _delta(["ingredient.manifest.validated", "signingCredential.trusted"], [])
    store = _store([], _ingredient(recorded), now)
    (ing,) = provenance_from_store(store, "Trusted").ingredients
    assert ing.state == INVALID
    assert ing.failure_codes == ["assertion.dataHash.mismatch"]
