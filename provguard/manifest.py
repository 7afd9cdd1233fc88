"""C2PA through c2pa-python: build and sign manifests, read and validate them into Provenance."""

from __future__ import annotations

import functools
import io
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import c2pa

from provguard import __version__
from provguard.errors import (
    CorruptMediaError,
    ManifestError,
    SigningError,
    TimestampAuthorityError,
    UnsupportedMediaError,
)
from provguard.media import NO_MANIFEST_KINDS, MediaKind
from provguard.report import ABSENT, INVALID, TRUSTED, VALID, Ingredient, Provenance, SoftBinding

if TYPE_CHECKING:
    from provguard.keys import Signer

IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: digitalSourceType short names accepted on the command line.
SOURCE_TYPES = (
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "algorithmicMedia",
    "compositeSynthetic",
    "digitalCapture",
    "computationalCapture",
    "composite",
    "digitalCreation",
    "humanEdits",
    "algorithmicallyEnhanced",
    "dataDrivenMedia",
    "screenCapture",
    "virtualRecording",
)
#: Source types that mean "made with a generative model".
AI_SOURCE_TYPES = frozenset(
    {"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia", "compositeSynthetic"}
)
_ALGS = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "es512": c2pa.C2paSigningAlg.ES512,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ps384": c2pa.C2paSigningAlg.PS384,
    "ps512": c2pa.C2paSigningAlg.PS512,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}
_PARENT_LABEL = "provguard-parent"


def soft_binding_assertion(alg: str, payload_hex: str) -> dict[str, Any]:
    """Return a c2pa.soft-binding assertion naming the watermark algorithm and its payload."""
    return {"label": "c2pa.soft-binding", "data": {"alg": alg, "blocks": [{"scope": {}, "value": payload_hex}]}}


def watermarked_action() -> dict[str, Any]:
    """Return the c2pa.watermarked action recorded when a watermark is embedded."""
    return {
        "action": "c2pa.watermarked",
        "softwareAgent": {"name": "provguard", "version": __version__},
        "parameters": {"description": "invisible watermark carrying a manifest-store id (soft binding)"},
    }


@dataclass(frozen=True)
class ParentIngredient:
    """A parent asset to record as the ingredient the new content was made from."""

    data: bytes
    kind: MediaKind
    title: str


@dataclass(frozen=True)
class ManifestSpec:
    """What goes into the manifest that provguard signs."""

    title: str
    digital_source_type: str = "trainedAlgorithmicMedia"
    generator_name: str | None = None
    generator_version: str | None = None
    parent: ParentIngredient | None = None
    extra_actions: tuple[dict[str, Any], ...] = ()
    extra_assertions: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def source_type_url(name: str) -> str:
    """Return the IPTC URL for a digitalSourceType short name (or pass a URL through)."""
    if name.startswith("http://") or name.startswith("https://"):
        return name
    if name not in SOURCE_TYPES:
        raise ValueError(f"unknown digital source type {name!r}; choose one of: {', '.join(SOURCE_TYPES)}")
    return IPTC_SOURCE_TYPES + name


def source_type_name(url: str | None) -> str | None:
    """Return the short name of an IPTC digitalSourceType URL."""
    if not url:
        return None
    return url.rsplit("/", 1)[-1]


def settings(trust_anchors: bytes | None = None, thumbnail: bool = False) -> dict[str, Any]:
    """Return c2pa settings: offline, thumbnails off, and our trust list when anchors are given."""
    from provguard.keys import trust_config_text

    # trust_config (the allowed EKUs) always goes in: without it c2pa-rs refuses to sign with, and marks
    # invalid, certificates carrying only the C2PA claimSigning or documentSigning EKU.
    trust: dict[str, str] = {"trust_config": trust_config_text()}
    if trust_anchors:
        trust["trust_anchors"] = trust_anchors.decode("ascii")
    return {
        "trust": trust,
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        "builder": {"thumbnail": {"enabled": thumbnail}},
    }


@functools.lru_cache(maxsize=8)
def _context(trust_anchors: bytes | None, thumbnail: bool) -> c2pa.Context:
    """Return a cached c2pa Context for these settings."""
    return c2pa.Context.from_dict(settings(trust_anchors, thumbnail))


def _manifest_definition(spec: ManifestSpec) -> dict[str, Any]:
    """Build the manifest JSON that c2pa's Builder takes."""
    agent: dict[str, Any] | None = None
    if spec.generator_name:
        agent = {"name": spec.generator_name}
        if spec.generator_version:
            agent["version"] = spec.generator_version
    main: dict[str, Any] = {"digitalSourceType": source_type_url(spec.digital_source_type)}
    if agent:
        main["softwareAgent"] = agent
    if spec.parent is None:
        actions = [{"action": "c2pa.created", **main}]
    else:
        actions = [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": [_PARENT_LABEL]}},
            {"action": "c2pa.edited", **main},
        ]
    actions.extend(spec.extra_actions)
    return {
        "claim_generator_info": [{"name": "provguard", "version": __version__}],
        "title": spec.title,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}, *spec.extra_assertions],
    }


def _signing_error(exc: Exception, tsa_url: str | None) -> Exception:
    """Translate a c2pa signing failure into a provguard error with a one-line message."""
    text = str(exc)
    if tsa_url and ("http" in text.lower() or "timestamp" in text.lower() or "tsa" in text.lower()):
        return TimestampAuthorityError(f"timestamp authority {tsa_url} could not be reached or refused the request")
    if "certificate" in text.lower():
        return SigningError(f"c2pa refused the signing certificate: {_one_line(text)}")
    return SigningError(f"signing failed: {_one_line(text)}")


def sign_into(data: bytes, kind: MediaKind, spec: ManifestSpec, signer: Signer, dest: BinaryIO) -> bytes:
    """Embed a signed manifest into `data`, write the signed asset to `dest`, return the manifest bytes."""
    try:
        alg = _ALGS[signer.alg.lower()]
    except KeyError:
        raise SigningError(f"unsupported signing algorithm {signer.alg!r}") from None
    chain = signer.certificate_chain_pem().decode("ascii")
    try:
        builder = c2pa.Builder(_manifest_definition(spec), context=_context(None, False))
        if spec.parent is not None:
            ingredient = {"title": spec.parent.title, "relationship": "parentOf", "label": _PARENT_LABEL}
            builder.add_ingredient(ingredient, spec.parent.kind.mime, io.BytesIO(spec.parent.data))
        c2pa_signer = c2pa.Signer.from_callback(signer.sign, alg, chain, signer.tsa_url)
        return bytes(builder.sign(c2pa_signer, kind.mime, io.BytesIO(data), dest))
    except c2pa.C2paError as exc:
        raise _signing_error(exc, signer.tsa_url) from exc


def _one_line(text: str) -> str:
    """Collapse whitespace so a message fits on one line."""
    return re.sub(r"\s+", " ", text).strip()


def _codes(entries: list[dict[str, Any]] | None) -> list[str]:
    """Return the distinct codes of status entries, in order."""
    return list(dict.fromkeys(e.get("code", "") for e in entries or [] if e.get("code")))


def _explanations(entries: list[dict[str, Any]] | None) -> dict[str, str]:
    """Map each code to its first explanation."""
    out: dict[str, str] = {}
    for entry in entries or []:
        if entry.get("code") and entry.get("explanation"):
            out.setdefault(entry["code"], entry["explanation"])
    return out


def _state_from_codes(failures: list[str]) -> str:
    """Derive a state for an ingredient from its failure codes."""
    if any(code not in ("signingCredential.untrusted",) for code in failures):
        return INVALID
    return VALID if failures else TRUSTED


def _generator_text(manifest: dict[str, Any]) -> str | None:
    """Return claim generator name and version as one string."""
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info:
        first = info[0]
        return " ".join(str(first[k]) for k in ("name", "version") if first.get(k))
    return manifest.get("claim_generator")


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the actions of every c2pa.actions assertion in a manifest."""
    actions: list[dict[str, Any]] = []
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            actions.extend((assertion.get("data") or {}).get("actions") or [])
    return actions


def _agent_text(agent: Any) -> str | None:
    """Render a softwareAgent (string or {name, version}) as text."""
    if isinstance(agent, dict):
        return " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k)) or None
    return str(agent) if agent else None


def _source_and_agent(actions: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """Return the digitalSourceType of the first action stating one, and the agent that made the content."""
    main = next((a for a in actions if a.get("digitalSourceType")), None)
    agent = _agent_text(main.get("softwareAgent")) if main else None
    if agent is None:
        agent = next(
            (
                _agent_text(a.get("softwareAgent"))
                for a in actions
                if a.get("softwareAgent") and a.get("action") != "c2pa.watermarked"
            ),
            None,
        )
    return source_type_name(main.get("digitalSourceType") if main else None), agent


def _soft_bindings(manifest: dict[str, Any]) -> list[SoftBinding]:
    """Return the c2pa.soft-binding assertions of a manifest."""
    found = []
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.soft-binding"):
            data = assertion.get("data") or {}
            for block in data.get("blocks") or []:
                found.append(SoftBinding(alg=str(data.get("alg", "")), value=str(block.get("value", ""))))
    return found


def _ingredient_deltas(store: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Map ingredient assertion URIs to their validation deltas."""
    deltas = (store.get("validation_results") or {}).get("ingredientDeltas") or []
    return {d.get("ingredientAssertionURI", ""): d.get("validationDeltas") or {} for d in deltas}


def _current_failures(recorded: dict[str, Any], delta: dict[str, Any]) -> list[str]:
    """Apply re-validation deltas to the results recorded when an ingredient was added."""
    resolved = {
        (str(e.get("code", "")).rsplit(".", 1)[0], e.get("url")) for e in delta.get("success") or [] if e.get("code")
    }
    kept = [
        e
        for e in recorded.get("failure") or []
        if (str(e.get("code", "")).rsplit(".", 1)[0], e.get("url")) not in resolved
    ]
    return _codes(kept + list(delta.get("failure") or []))


def _walk_ingredients(
    manifest: dict[str, Any], store: dict[str, Any], deltas: dict[str, dict[str, Any]], depth: int
) -> list[Ingredient]:
    """Walk a manifest's ingredients recursively into Ingredient records."""
    out: list[Ingredient] = []
    if depth > 32:
        return out
    label = manifest.get("label", "")
    for item in manifest.get("ingredients") or []:
        child_label = item.get("active_manifest")
        child = (store.get("manifests") or {}).get(child_label) if child_label else None
        uri = f"self#jumbf=/c2pa/{label}/c2pa.assertions/{item.get('label', '')}"
        delta = deltas.get(uri) or {}
        recorded = ((item.get("validation_results") or {}).get("activeManifest") or {}) if child is not None else {}
        failures = _current_failures(recorded, delta)
        record = Ingredient(
            title=item.get("title"),
            relationship=item.get("relationship"),
            media_type=item.get("format"),
            state=_state_from_codes(failures) if child is not None else (INVALID if failures else ABSENT),
            failure_codes=failures,
            informational_codes=_codes(delta.get("informational")),
            recorded_codes=_codes(item.get("validation_status")),
        )
        if child is not None:
            sig = child.get("signature_info") or {}
            record.issuer, record.common_name, record.signed_at = sig.get("issuer"), sig.get("common_name"), sig.get("time")
            record.claim_generator = _generator_text(child)
            record.digital_source_type = _source_and_agent(_actions(child))[0]
            record.ingredients = _walk_ingredients(child, store, deltas, depth + 1)
        out.append(record)
    return out


_STATES = {"Trusted": TRUSTED, "Valid": VALID, "Invalid": INVALID}


def provenance_from_store(store: dict[str, Any], validation_state: str) -> Provenance:
    """Turn c2pa's manifest-store JSON and validation state into a Provenance record."""
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label) or {}
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = results.get("failure") if results else store.get("validation_status")
    actions = _actions(manifest)
    source, agent = _source_and_agent(actions)
    sig = manifest.get("signature_info") or {}
    return Provenance(
        state=_STATES.get(validation_state, INVALID),
        title=manifest.get("title"),
        manifest_label=label,
        issuer=sig.get("issuer"),
        common_name=sig.get("common_name"),
        signed_at=sig.get("time"),
        signature_alg=str(sig["alg"]).lower() if sig.get("alg") else None,
        claim_generator=_generator_text(manifest),
        digital_source_type=source,
        software_agent=agent,
        actions=actions,
        ingredients=_walk_ingredients(manifest, store, _ingredient_deltas(store), 0),
        soft_bindings=_soft_bindings(manifest),
        failure_codes=_codes(failures),
        informational_codes=_codes(results.get("informational")),
        explanations=_explanations(failures),
    )


_REMOTE = re.compile(r"remote manifests? from url (\S+)", re.IGNORECASE)


#: Informational code of content in a format C2PA defines no manifest place in (NO_MANIFEST_KINDS).
NO_MANIFEST_PLACE = "provguard.manifest.unsupportedFormat"


def read_provenance(
    data: bytes, kind: MediaKind, trust_anchors: bytes | None = None, manifest_data: bytes | None = None
) -> Provenance:
    """Read and validate the C2PA manifest of an asset (or a detached one against it); absent when none."""
    if kind in NO_MANIFEST_KINDS and manifest_data is None:
        return Provenance(
            state=ABSENT,
            informational_codes=[NO_MANIFEST_PLACE],
            explanations={NO_MANIFEST_PLACE: f"C2PA defines no place for a manifest in {kind.mime}"},
        )
    try:
        reader = c2pa.Reader(
            kind.mime, io.BytesIO(data), manifest_data=manifest_data, context=_context(trust_anchors, False)
        )
    except c2pa.C2paError as exc:
        return _provenance_from_error(exc)
    try:
        store = json.loads(reader.json())
        state = str(reader.get_validation_state())
    except (c2pa.C2paError, ValueError) as exc:
        raise ManifestError(f"manifest could not be decoded: {_one_line(str(exc))}") from exc
    finally:
        reader.close()
    return provenance_from_store(store, state)


def _provenance_from_error(exc: Exception) -> Provenance:
    """Map a c2pa reading error to absent/invalid provenance or a provguard input error."""
    text = _one_line(str(exc))
    name = type(exc).__name__
    if "ManifestNotFound" in name or "no JUMBF data found" in text:
        return Provenance(state=ABSENT)
    remote = _REMOTE.search(text)
    if remote:
        return Provenance(
            state=ABSENT,
            remote_manifest_url=remote.group(1),
            informational_codes=["provguard.manifest.remote"],
            explanations={"provguard.manifest.remote": "the manifest is stored remotely and was not fetched (offline)"},
        )
    if "NotSupported" in name or "type is unsupported" in text:
        raise UnsupportedMediaError("c2pa cannot read this media type")
    if "could not be parsed" in text or "Invalid RIFF" in text or "too deply nested" in text:
        detail = text.split("could not be parsed:", 1)[-1].strip()
        raise CorruptMediaError(f"file structure is malformed: {detail}")
    return Provenance(
        state=INVALID,
        failure_codes=["provguard.manifest.malformed"],
        explanations={"provguard.manifest.malformed": f"the manifest cannot be read: {text}"},
    )
