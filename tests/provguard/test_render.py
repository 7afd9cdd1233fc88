"""Tests for provguard.render: plain-language text for each provenance state, ingredients and errors."""

from __future__ import annotations

import pytest

from provguard.render import PLAIN_CODES, plain, render_text, verdict_word
from provguard.report import ABSENT, INVALID, TRUSTED, VALID, Ingredient, Provenance, Report


def _report(state: str, **fields: object) -> Report:
    prov = Provenance(
        state=state,
        issuer="Example Org",
        common_name="Example signer",
        claim_generator="provguard 0.1.0",
        digital_source_type="trainedAlgorithmicMedia",
        software_agent="model 2",
        **fields,  # type: ignore[arg-type]
    )
    return Report(path="media/x.jpg", media_type="image/jpeg", provenance=prov)


def test_trusted_report_in_plain_words() -> None:
    text = render_text(_report(TRUSTED))
    lines = text.splitlines()
    assert lines[0] == "OK: media/x.jpg (image/jpeg)"
    assert "valid, signed by a trusted signer" in lines[1]
    assert "  Generated with an AI tool (trainedAlgorithmicMedia)" in lines
    assert "  Issued by: Example Org (Example signer)" in lines
    assert "  Issued on: not recorded (no trusted timestamp)" in lines
    assert "  App or model used: model 2" in lines
    assert "  Signed with: provguard 0.1.0" in lines
    assert "What is wrong" not in text


def test_valid_report_says_the_signer_is_not_trusted() -> None:
    text = render_text(_report(VALID, failure_codes=["signingCredential.untrusted"], signed_at="2025-01-01T00:00:00Z"))
    assert text.startswith("OK: ")
    assert "not on your trust list" in text
    assert "Issued on: 2025-01-01T00:00:00Z" in text


def test_invalid_report_explains_the_tampering() -> None:
    text = render_text(_report(INVALID, failure_codes=["assertion.dataHash.mismatch"]))
    assert text.startswith("FAIL: ")
    assert "Content Credentials: INVALID" in text
    assert "the content was changed after it was signed [assertion.dataHash.mismatch]" in text


def test_absent_report_does_not_judge_the_content() -> None:
    text = render_text(Report(path="p.png", media_type="image/png"))
    assert text.startswith("FAIL: p.png (image/png)")
    assert "none found" in text and "says nothing about whether it is real or generated" in text
    assert "Generated with an AI tool" not in text


def test_remote_manifest_is_mentioned() -> None:
    report = Report(path="r.jpg", provenance=Provenance(state=ABSENT, remote_manifest_url="https://cdn.example/m"))
    assert "https://cdn.example/m" in render_text(report)


def test_unreadable_file() -> None:
    text = render_text(Report(path="bad.jpg", errors=["file is empty"]))
    assert text == "ERROR: bad.jpg\n  could not be read: file is empty"


def test_non_ai_source_type() -> None:
    report = _report(TRUSTED)
    report.provenance.digital_source_type = "digitalCapture"
    text = render_text(report)
    assert "Source: digitalCapture" in text and "Generated with an AI tool" not in text


def test_ingredients_tree_hides_only_trust_codes() -> None:
    grandchild = Ingredient("g.png", None, "image/png", INVALID, failure_codes=["claimSignature.mismatch"])
    parent = Ingredient("p.jpg", "parentOf", "image/jpeg", VALID, failure_codes=["signingCredential.untrusted"],
                        ingredients=[grandchild])
    text = render_text(_report(TRUSTED, ingredients=[parent]))
    lines = text.splitlines()
    assert "    - p.jpg (parentOf): valid" in lines
    assert "      - g.png (ingredient): invalid - the signature does not match: " \
           "the credentials were altered or forged" in lines
    assert "What is wrong:" in text  # the grandchild's failure is listed with the rest


def test_bytes_report_has_a_name() -> None:
    assert render_text(Report(path=None)).startswith("FAIL: <bytes>")


@pytest.mark.parametrize(("report", "word"), [
    (Report(path="a", errors=["x"]), "ERROR"),
    (Report(path="a", provenance=Provenance(state=TRUSTED)), "OK"),
    (Report(path="a", provenance=Provenance(state=VALID)), "OK"),
    (Report(path="a", provenance=Provenance(state=INVALID)), "FAIL"),
    (Report(path="a"), "FAIL"),
])
def test_verdict_word(report: Report, word: str) -> None:
    assert verdict_word(report) == word


def test_plain_codes_are_one_line_sentences() -> None:
    assert plain("some.unknown.code") == "some.unknown.code"
    for code, meaning in PLAIN_CODES.items():
        assert plain(code) == meaning
        assert "\n" not in meaning and meaning == meaning.strip() and meaning[0].islower()


def test_rendered_real_tampered_file(media, dev_signer, dev_root_pem: bytes) -> None:  # noqa: ANN001
    from provguard.demo import flip_media_byte
    from provguard.sign import sign_bytes
    from provguard.verify import verify_bytes

    signed = sign_bytes(media("jpeg"), signer=dev_signer, watermark=False)
    text = render_text(verify_bytes(flip_media_byte(signed), "t.jpg", dev_root_pem))
    assert "changed after it was signed" in text
    assert "Issued by: " in text
