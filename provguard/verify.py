"""The verification pipeline: bytes -> sniff -> C2PA provenance -> Report."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from provguard.errors import InputError, ProvguardError
from provguard.manifest import read_provenance
from provguard.media import check_structure, max_bytes, read_media, sniff
from provguard.report import Report


def resolve_trust_anchors(trust_anchors: bytes | str | os.PathLike[str] | None) -> bytes | None:
    """Return PEM anchors from bytes, a path, $PROVGUARD_TRUST_ANCHORS or the config, in that order."""
    if isinstance(trust_anchors, bytes):
        return trust_anchors
    from provguard.config import load_config, trust_anchor_pems

    explicit = Path(trust_anchors) if trust_anchors is not None else None
    return trust_anchor_pems(explicit, load_config())


def verify_bytes(data: bytes, path: str | None = None, trust_anchors: bytes | None = None) -> Report:
    """Verify content already in memory; per-file problems land in Report.errors."""
    report = Report(path=path)
    try:
        if len(data) > max_bytes():
            raise InputError(f"content is {len(data)} bytes, over the {max_bytes()}-byte limit (PROVGUARD_MAX_BYTES)")
        kind = sniff(data[:8192])
        report.media_type = kind.mime
        report.sha256 = hashlib.sha256(data).hexdigest()
        check_structure(data, kind)
        report.provenance = read_provenance(data, kind, trust_anchors)
    except ProvguardError as exc:
        report.errors.append(str(exc))
    return report


def verify(
    source: str | os.PathLike[str] | bytes, trust_anchors: bytes | str | os.PathLike[str] | None = None
) -> Report:
    """Verify one file (path) or content (bytes) and return its Report; never raises for a bad file."""
    anchors = resolve_trust_anchors(trust_anchors)
    if isinstance(source, bytes):
        return verify_bytes(source, None, anchors)
    return verify_path(Path(source), anchors)


def verify_path(path: Path, trust_anchors: bytes | None) -> Report:
    """Read a file within limits and verify it."""
    try:
        data, _ = read_media(path)
    except ProvguardError as exc:
        return Report(path=str(path), errors=[str(exc)])
    return verify_bytes(data, str(path), trust_anchors)


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
) -> Iterator[Report]:
    """Verify many files lazily; one bad file never stops the batch."""
    anchors = resolve_trust_anchors(trust_anchors)
    for path in expand_paths(paths, recursive):
        yield verify_path(path, anchors)
