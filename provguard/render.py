"""Plain-language text rendering of Reports, for journalists and analysts."""

from __future__ import annotations

from provguard.manifest import AI_SOURCE_TYPES, NO_MANIFEST_PLACE
from provguard.report import ABSENT, INVALID, TRUSTED, VALID, Ingredient, Report, all_failure_codes

#: What a failure or informational code means, in plain words.
PLAIN_CODES = {
    "assertion.dataHash.mismatch": "the content was changed after it was signed",
    "assertion.bmffHash.mismatch": "the video or audio data was changed after it was signed",
    "assertion.boxesHash.mismatch": "the content was changed after it was signed",
    "assertion.collectionHash.mismatch": "a file in the collection was changed after it was signed",
    "assertion.hashedURI.mismatch": "a statement in the credentials was altered after signing",
    "assertion.missing": "a statement the credentials refer to is missing",
    "claimSignature.mismatch": "the signature does not match: the credentials were altered or forged",
    "claimSignature.missing": "the credentials carry no signature",
    "signingCredential.untrusted": "the signer is not on your trust list (anyone can make such a certificate)",
    "signingCredential.expired": "the signer's certificate had expired when the file was signed",
    "signingCredential.revoked": "the signer's certificate has been revoked",
    "signingCredential.invalid": "the signer's certificate is not valid for signing credentials",
    "ingredient.manifest.missing": "the credentials of an ingredient are missing",
    "ingredient.hashedURI.mismatch": "an ingredient was changed after it was recorded",
    "timeStamp.mismatch": "the timestamp does not match the signature",
    "timeStamp.malformed": "the timestamp is malformed",
    "timeStamp.untrusted": "the timestamp authority is not trusted",
    "cawg.identity.pad.invalid": "an identity statement is malformed",
    "cawg.x509.credential.untrusted": "an identity statement is signed by an untrusted certificate",
    "cawg.ica.did_unavailable": "an identity statement could not be checked offline",
    "provguard.manifest.malformed": "the credentials are present but cannot be read",
    "provguard.manifest.remote": "the credentials are stored online and were not fetched (provguard works offline)",
    NO_MANIFEST_PLACE: "the format has no place for C2PA credentials",
}

_HEADLINE = {
    TRUSTED: "Content Credentials: valid, signed by a trusted signer",
    VALID: "Content Credentials: valid, but the signer is not on your trust list",
    INVALID: "Content Credentials: INVALID",
    ABSENT: "Content Credentials: none found",
}


def plain(code: str) -> str:
    """Return the plain-language meaning of a validation code."""
    return PLAIN_CODES.get(code, code)


def verdict_word(report: Report) -> str:
    """Return OK, FAIL or ERROR for a report, as the first word of its text block."""
    if report.errors:
        return "ERROR"
    return "OK" if report.provenance.state in (VALID, TRUSTED) else "FAIL"


def _ingredient_lines(items: list[Ingredient], indent: str) -> list[str]:
    """Render ingredients as an indented tree."""
    lines = []
    for item in items:
        label = item.title or "(untitled)"
        what = f"{label} ({item.relationship or 'ingredient'}): {item.state}"
        problems = [c for c in item.failure_codes if c != "signingCredential.untrusted"]
        if problems:
            what += " - " + "; ".join(plain(c) for c in problems)
        lines.append(f"{indent}- {what}")
        lines.extend(_ingredient_lines(item.ingredients, indent + "  "))
    return lines


def _watermark_lines(report: Report) -> list[str]:
    """Render watermark evidence and any provenance recovered through it."""
    mark = report.watermark
    if mark is None:
        return []
    if not mark.detected:
        return [f"  Watermark: not found{f' ({mark.note})' if mark.note else ''}"]
    lines = [
        f"  Watermark: found, payload {mark.payload} ({mark.bit_errors}/{mark.n_bits} bit errors, "
        f"chance of a false detection <= {mark.p_value:.1e})"
    ]
    if mark.note:
        lines.append(f"  {mark.note}")
    rec = mark.recovered
    if rec is not None:
        lines.append("  Provenance recovered by soft binding from the manifest store"
                     + ("; the content changed since it was signed." if rec.content_changed else "."))
        prov = rec.provenance
        if prov.digital_source_type in AI_SOURCE_TYPES:
            lines.append(f"    Generated with an AI tool ({prov.digital_source_type})")
        lines.append(f"    Issued by: {prov.issuer or rec.signer}" + (f" ({prov.common_name})" if prov.common_name else ""))
        lines.append(f"    Signed on: {rec.signed_at} (as recorded in the store)")
        if prov.software_agent:
            lines.append(f"    App or model used: {prov.software_agent}")
        sig_ok = not any(c.startswith("claimSignature") for c in prov.failure_codes)
        lines.append(f"    Stored manifest signature: {'intact' if sig_ok else 'BROKEN'}")
    return lines


def _detection_lines(report: Report) -> list[str]:
    """Render the detectors' calibrated scores in plain words."""
    det = report.detection
    if det is None:
        return []
    if det.score is None:
        return [f"  Detectors: not scored ({det.note})" if det.note else "  Detectors: not scored"]
    words = "looks machine-made" if det.label == "likely-synthetic" else "looks like a real capture, not machine-made"
    others = ", ".join(f"{m.name} {m.score:.2f}" for m in det.models)
    return [
        f"  Detectors: {words} (estimated probability it is synthetic: {det.score:.2f}; {others})",
        "    A detector score is a statistical estimate, not proof; provenance and watermarks are stronger evidence.",
    ]


def render_text(report: Report) -> str:
    """Render one Report as a short plain-language block."""
    name = report.path or "<bytes>"
    head = f"{verdict_word(report)}: {name}"
    if report.media_type:
        head += f" ({report.media_type})"
    if report.errors:
        return head + "\n" + "\n".join(f"  could not be read: {e}" for e in report.errors)
    prov = report.provenance
    lines = [head, f"  {_HEADLINE[prov.state]}"]
    if prov.state == ABSENT:
        if prov.remote_manifest_url:
            lines.append(f"  The file points to credentials stored at {prov.remote_manifest_url} (not fetched: offline).")
        elif NO_MANIFEST_PLACE in prov.informational_codes:
            lines.append("  The format has no place for C2PA credentials: only a watermark can point back to them.")
        else:
            lines.append("  The file carries no C2PA manifest. This says nothing about whether it is real or generated.")
        return "\n".join(lines + _watermark_lines(report) + _detection_lines(report))
    if prov.digital_source_type in AI_SOURCE_TYPES:
        lines.append(f"  Generated with an AI tool ({prov.digital_source_type})")
    elif prov.digital_source_type:
        lines.append(f"  Source: {prov.digital_source_type}")
    lines.append(f"  Issued by: {prov.issuer or 'unknown'}" + (f" ({prov.common_name})" if prov.common_name else ""))
    lines.append(f"  Issued on: {prov.signed_at or 'not recorded (no trusted timestamp)'}")
    if prov.software_agent:
        lines.append(f"  App or model used: {prov.software_agent}")
    if prov.claim_generator:
        lines.append(f"  Signed with: {prov.claim_generator}")
    if prov.ingredients:
        lines.append("  Ingredients:")
        lines.extend(_ingredient_lines(prov.ingredients, "    "))
    problems = all_failure_codes(prov)
    if problems:
        lines.append("  What is wrong:")
        lines.extend(f"    - {plain(code)} [{code}]" for code in problems)
    return "\n".join(lines + _watermark_lines(report) + _detection_lines(report))
