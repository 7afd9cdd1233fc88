"""The verification Report and its parts: dataclasses, JSON form and plain-language text."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1

#: Provenance states, from weakest to strongest.
ABSENT, INVALID, VALID, TRUSTED = "absent", "invalid", "valid", "trusted"

#: Codes that mean "the signer is not on the trust list", not "the content was changed".
TRUST_CODES = frozenset({"signingCredential.untrusted"})


@dataclass
class Ingredient:
    """One ingredient of a manifest, with its own validation state and codes, walked recursively."""

    title: str | None
    relationship: str | None
    media_type: str | None
    state: str
    issuer: str | None = None
    common_name: str | None = None
    signed_at: str | None = None
    claim_generator: str | None = None
    digital_source_type: str | None = None
    failure_codes: list[str] = field(default_factory=list)
    informational_codes: list[str] = field(default_factory=list)
    recorded_codes: list[str] = field(default_factory=list)
    ingredients: list[Ingredient] = field(default_factory=list)


@dataclass
class SoftBinding:
    """A c2pa.soft-binding assertion: a watermark or fingerprint that points back to the manifest."""

    alg: str
    value: str


@dataclass
class Provenance:
    """What the C2PA manifest says and whether it holds: absent, invalid, valid or trusted."""

    state: str = ABSENT
    title: str | None = None
    manifest_label: str | None = None
    issuer: str | None = None
    common_name: str | None = None
    signed_at: str | None = None
    signature_alg: str | None = None
    claim_generator: str | None = None
    digital_source_type: str | None = None
    software_agent: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    ingredients: list[Ingredient] = field(default_factory=list)
    soft_bindings: list[SoftBinding] = field(default_factory=list)
    failure_codes: list[str] = field(default_factory=list)
    informational_codes: list[str] = field(default_factory=list)
    explanations: dict[str, str] = field(default_factory=dict)
    remote_manifest_url: str | None = None


@dataclass
class RecoveredManifest:
    """A manifest found in the store through the watermark payload, read and validated against this content."""

    provenance: Provenance
    signed_at: str
    signer: str
    original_sha256: str
    content_changed: bool


@dataclass
class WatermarkEvidence:
    """Keyed watermark evidence: found or not, payload, bit errors and the false-positive bound."""

    detected: bool
    payload: str | None
    bit_errors: int
    n_bits: int
    p_value: float
    recovered: RecoveredManifest | None = None
    note: str | None = None


@dataclass
class ModelScore:
    """One detector's calibrated score for a file."""

    name: str
    version: str
    score: float


@dataclass
class DetectionEvidence:
    """What the detectors think: P(synthetic) from the primary model, its label, and every model's score."""

    score: float | None
    label: str
    models: list[ModelScore] = field(default_factory=list)
    regions: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None


@dataclass
class Report:
    """Everything provguard found out about one file; evidence kinds are kept apart."""

    path: str | None
    media_type: str | None = None
    sha256: str | None = None
    provenance: Provenance = field(default_factory=Provenance)
    watermark: WatermarkEvidence | None = None
    detection: DetectionEvidence | None = None
    errors: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    @property
    def readable(self) -> bool:
        """True when the file could be read (no per-file error)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready dict with schema_version first."""
        body = asdict(self)
        ordered = {"schema_version": body.pop("schema_version")}
        ordered.update(body)
        return ordered

    def to_json(self, indent: int | None = None) -> str:
        """Return the report as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def all_failure_codes(provenance: Provenance) -> list[str]:
    """Failure codes of the active manifest and every ingredient, without repeats."""
    seen: dict[str, None] = dict.fromkeys(provenance.failure_codes)

    def walk(items: list[Ingredient]) -> None:
        for item in items:
            seen.update(dict.fromkeys(item.failure_codes))
            walk(item.ingredients)

    walk(provenance.ingredients)
    return list(seen)
