"""The verification pipeline: bytes -> sniff -> C2PA provenance -> watermark (+ store recovery) -> detectors -> Report."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from provguard.errors import InputError, ProvguardError, WatermarkError
from provguard.manifest import read_provenance
from provguard.media import (AVIF, GIF, HEIC, MKV, MOV, NO_MANIFEST_KINDS, OGG, SIGNABLE, WEBM, MediaKind, check_structure,
                             kind_for_mime, max_bytes, read_media, sniff)
from provguard.report import ABSENT, INVALID, RecoveredManifest, Report, WatermarkEvidence
from provguard.store import ManifestStore

#: Kinds provguard never writes but searches for its watermark: what platforms, phones and messengers re-encode
#: signed content into (AVIF, HEIC and GIF pictures, QuickTime movies, WebM and Matroska videos, Ogg voice notes),
#: where the manifest is gone. Content of theirs that cannot be decoded (a codec PyAV or Pillow lacks, or HEIC
#: without pillow-heif) gets a note, not an error: its provenance is still reported.
SEARCHED_ONLY = frozenset({AVIF, HEIC, GIF, MOV, WEBM, MKV, OGG})
#: Kinds whose content provguard decodes to look for its watermark: every kind it signs (and so marks), and those.
WATERMARK_KINDS = frozenset(SIGNABLE) | SEARCHED_ONLY


@dataclass
class VerifyOptions:
    """What verification uses besides the file: trust anchors, the watermark key and the manifest store."""

    trust_anchors: bytes | None = None
    watermark_key: bytes | None = None
    store: ManifestStore | None = None
    detect: bool = False


def resolve_trust_anchors(trust_anchors: bytes | str | os.PathLike[str] | None) -> bytes | None:
    """Return PEM anchors from bytes, a path, $PROVGUARD_TRUST_ANCHORS or the config, in that order."""
    if isinstance(trust_anchors, bytes):
        return trust_anchors
    from provguard.config import load_config, trust_anchor_pems

    explicit = Path(trust_anchors) if trust_anchors is not None else None
    return trust_anchor_pems(explicit, load_config())


def default_options(
    trust_anchors: bytes | str | os.PathLike[str] | None = None, watermark: bool = True, detect: bool = True
) -> VerifyOptions:
    """Options from the config: anchors, detectors, and the watermark key and store when a key is configured."""
    options = VerifyOptions(trust_anchors=resolve_trust_anchors(trust_anchors), detect=detect)
    if not watermark:
        return options
    from provguard.config import load_config
    from provguard.keys import load_watermark_key

    config = load_config()
    if config.watermark_key is not None and config.watermark_key.exists():
        options.watermark_key = load_watermark_key(config)
        if config.store_path.exists():
            options.store = ManifestStore(config.store_path)
    return options


def _recover(data: bytes, kind: MediaKind, payload: str, options: VerifyOptions) -> RecoveredManifest | None:
    """Look the payload up in the store and validate the stored manifest against this content."""
    if options.store is None:
        return None
    record = options.store.get(int(payload, 16))
    if record is None:
        return None
    if kind in NO_MANIFEST_KINDS:  # C2PA cannot read this format: the signature is checked, not the binding
        original = kind_for_mime(record.media_type) or kind
        provenance = read_provenance(b"", original, options.trust_anchors, manifest_data=record.manifest)
    else:
        provenance = read_provenance(data, kind, options.trust_anchors, manifest_data=record.manifest)
    digest = hashlib.sha256(data).hexdigest()
    return RecoveredManifest(provenance, record.signed_at, record.signer, record.asset_sha256, digest != record.asset_sha256)


def watermark_evidence(data: bytes, kind: MediaKind, report: Report, options: VerifyOptions) -> WatermarkEvidence | None:
    """Detect our watermark; when provenance is missing or broken, recover the manifest from the store."""
    if options.watermark_key is None or kind not in WATERMARK_KINDS:
        return None
    from provguard.watermark.apply import detect_media

    try:
        decision = detect_media(data, kind, options.watermark_key)
    except WatermarkError as exc:
        return WatermarkEvidence(False, None, 0, 0, 1.0, note=str(exc))
    except InputError as exc:  # undecodable or unsupported content of a kind provguard only searches
        if kind not in SEARCHED_ONLY:
            raise
        return WatermarkEvidence(False, None, 0, 0, 1.0, note=f"watermark not searched: {exc}")
    payload = f"{decision.payload:016x}" if decision.detected and decision.payload is not None else None
    evidence = WatermarkEvidence(decision.detected, payload, decision.bit_errors, decision.n_bits, decision.p_value)
    if payload and report.provenance.state in (ABSENT, INVALID):
        evidence.recovered = _recover(data, kind, payload, options)
        if evidence.recovered is None:
            evidence.note = "watermark found, but its payload is not in this manifest store"
    return evidence


def verify_bytes(
    data: bytes, path: str | None = None, trust_anchors: bytes | None = None, options: VerifyOptions | None = None
) -> Report:
    """Verify content already in memory; per-file problems land in Report.errors."""
    options = options or VerifyOptions(trust_anchors=trust_anchors)
    report = Report(path=path)
    try:
        if len(data) > max_bytes():
            raise InputError(f"content is {len(data)} bytes, over the {max_bytes()}-byte limit (PROVGUARD_MAX_BYTES)")
        kind = sniff(data)
        report.media_type = kind.mime
        report.sha256 = hashlib.sha256(data).hexdigest()
        check_structure(data, kind)
        report.provenance = read_provenance(data, kind, options.trust_anchors)
        report.watermark = watermark_evidence(data, kind, report, options)
        if options.detect:
            from provguard.detection import detection_evidence

            report.detection = detection_evidence(data, kind)
    except ProvguardError as exc:
        report.errors.append(str(exc))
    return report


def verify(
    source: str | os.PathLike[str] | bytes,
    trust_anchors: bytes | str | os.PathLike[str] | None = None,
    watermark: bool = True,
    detect: bool = True,
) -> Report:
    """Verify one file (path) or content (bytes) and return its Report; never raises for a bad file."""
    options = default_options(trust_anchors, watermark, detect)
    try:
        if isinstance(source, bytes):
            return verify_bytes(source, None, options=options)
        return verify_path(Path(source), options)
    finally:
        if options.store is not None:
            options.store.close()


def verify_path(path: Path, options: VerifyOptions | bytes | None) -> Report:
    """Read a file within limits and verify it."""
    if not isinstance(options, VerifyOptions):
        options = VerifyOptions(trust_anchors=options)
    if path.is_dir():
        return Report(path=str(path), errors=[f"{path} is a directory (use -r to walk it)"])
    try:
        data, _ = read_media(path)
    except ProvguardError as exc:
        return Report(path=str(path), errors=[str(exc)])
    return verify_bytes(data, str(path), options=options)


def expand_paths(paths: Iterable[str | os.PathLike[str]], recursive: bool) -> Iterator[Path]:
    """Yield files from paths, walking directories (sorted) when recursive; a directory otherwise is yielded as is."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and recursive:
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(root) / name
        else:
            yield path


def verify_many(
    paths: Iterable[str | os.PathLike[str]],
    recursive: bool = False,
    trust_anchors: bytes | str | os.PathLike[str] | None = None,
    watermark: bool = True,
    detect: bool = True,
) -> Iterator[Report]:
    """Verify many files lazily; one bad file never stops the batch."""
    options = default_options(trust_anchors, watermark, detect)
    try:
        for path in expand_paths(paths, recursive):
            yield verify_path(path, options)
    finally:
        if options.store is not None:
            options.store.close()
