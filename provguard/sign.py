"""The signing pipeline: sniff -> C2PA manifest -> temp file -> atomic rename."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from provguard.errors import InputError, UnsupportedMediaError
from provguard.fileio import atomic_writer, check_output_path
from provguard.manifest import ManifestSpec, ParentIngredient, sign_into
from provguard.media import SIGNABLE, MediaKind, check_structure, read_media, sniff
from provguard.keys import Signer


@dataclass(frozen=True)
class SignedAsset:
    """The result of signing: where it went (or its bytes), its type and size."""

    media_type: str
    size: int
    path: Path | None = None
    data: bytes | None = None


def parse_generator(text: str | None) -> tuple[str | None, str | None]:
    """Split 'NAME@VERSION' (version optional) into name and version."""
    if not text:
        return None, None
    name, _, version = text.partition("@")
    if not name.strip():
        raise InputError("--generator needs a model name, as NAME or NAME@VERSION")
    return name.strip(), (version.strip() or None)


def _signable(data: bytes) -> MediaKind:
    """Sniff content and refuse kinds we do not sign."""
    kind = sniff(data[:8192])
    if kind not in SIGNABLE:
        names = ", ".join(k.mime for k in SIGNABLE)
        raise UnsupportedMediaError(f"cannot sign {kind.mime}; signable types: {names}")
    check_structure(data, kind)
    return kind


def _parent(parent: str | os.PathLike[str] | None) -> ParentIngredient | None:
    """Load a parent ingredient file."""
    if parent is None:
        return None
    data, kind = read_media(parent)
    return ParentIngredient(data=data, kind=kind, title=Path(parent).name)


def _spec(
    title: str,
    digital_source_type: str,
    generator: str | None,
    parent: str | os.PathLike[str] | None,
) -> ManifestSpec:
    """Assemble the manifest spec from user options."""
    name, version = parse_generator(generator)
    try:
        from provguard.manifest import source_type_url

        source_type_url(digital_source_type)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    return ManifestSpec(
        title=title,
        digital_source_type=digital_source_type,
        generator_name=name,
        generator_version=version,
        parent=_parent(parent),
    )


def _default_signer(signer: Signer | None) -> Signer:
    """Return the given signer or the configured one."""
    if signer is not None:
        return signer
    from provguard.keys import default_signer

    return default_signer()


def sign_bytes(
    data: bytes,
    *,
    title: str = "untitled",
    signer: Signer | None = None,
    digital_source_type: str = "trainedAlgorithmicMedia",
    generator: str | None = None,
    parent: str | os.PathLike[str] | None = None,
) -> bytes:
    """Sign content in memory and return the signed bytes."""
    kind = _signable(data)
    spec = _spec(title, digital_source_type, generator, parent)
    out = io.BytesIO()
    sign_into(data, kind, spec, _default_signer(signer), out)
    return out.getvalue()


def sign(
    source: str | os.PathLike[str] | bytes,
    output: str | os.PathLike[str] | None = None,
    *,
    signer: Signer | None = None,
    digital_source_type: str = "trainedAlgorithmicMedia",
    generator: str | None = None,
    parent: str | os.PathLike[str] | None = None,
    title: str | None = None,
    force: bool = False,
) -> SignedAsset:
    """Sign a file or bytes; with `output`, write atomically there, else return the signed bytes."""
    if isinstance(source, bytes):
        data, src_path = source, None
    else:
        src_path = Path(source)
        data, _ = read_media(src_path)
    if output is None:
        signed = sign_bytes(
            data,
            title=title or (src_path.name if src_path else "untitled"),
            signer=signer,
            digital_source_type=digital_source_type,
            generator=generator,
            parent=parent,
        )
        return SignedAsset(media_type=sniff(signed[:8192]).mime, size=len(signed), data=signed)
    out_path = Path(output)
    check_output_path(out_path, force, (src_path,) if src_path else ())
    kind = _signable(data)
    spec = _spec(title or out_path.name, digital_source_type, generator, parent)
    resolved = _default_signer(signer)
    with atomic_writer(out_path) as fh:
        sign_into(data, kind, spec, resolved, fh)
        size = fh.tell()
    return SignedAsset(media_type=kind.mime, size=size, path=out_path)
