"""The signing pipeline: sniff -> watermark -> C2PA manifest -> temp file -> atomic rename -> store."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from provguard.errors import InputError, UnsupportedMediaError, WatermarkError, WeakWatermarkError
from provguard.fileio import atomic_writer, check_output_path
from provguard.keys import Signer
from provguard.manifest import (
    ManifestSpec,
    ParentIngredient,
    sign_into,
    soft_binding_assertion,
    source_type_url,
    watermarked_action,
)
from provguard.media import SIGNABLE, MediaKind, check_output_name, check_structure, read_media, sniff
from provguard.store import ManifestStore, StoredManifest, payload_hex, utc_now
from provguard.watermark.payload import PayloadDecision


@dataclass(frozen=True)
class SignedAsset:
    """The result of signing: where it went (or its bytes), its type, size and watermark payload."""

    media_type: str
    size: int
    path: Path | None = None
    data: bytes | None = None
    watermark_payload: str | None = None
    watermark_check: PayloadDecision | None = None  # what the detector read back from the freshly marked media

    @property
    def watermark_reads_back(self) -> bool | None:
        """True when the mark was read back exactly from the untouched output; None when there is no mark."""
        if self.watermark_payload is None or self.watermark_check is None:
            return None
        return self.watermark_check.carries(int(self.watermark_payload, 16))


@dataclass(frozen=True)
class _Watermarking:
    """What the watermark stage needs: the secret key and the store that maps payloads to manifests."""

    key: bytes
    store: ManifestStore
    owns_store: bool

    def close(self) -> None:
        """Close the store if this stage opened it."""
        if self.owns_store:
            self.store.close()


def parse_generator(text: str | None) -> tuple[str | None, str | None]:
    """Split 'NAME@VERSION' (version optional) into name and version."""
    if not text:
        return None, None
    name, _, version = text.partition("@")
    if not name.strip():
        raise InputError("--generator needs a model name, as NAME or NAME@VERSION")
    return name.strip(), (version.strip() or None)


def _signable_kind(data: bytes) -> MediaKind:
    """Sniff content and refuse kinds we do not sign."""
    kind = sniff(data)
    if kind not in SIGNABLE:
        names = ", ".join(k.mime for k in SIGNABLE)
        raise UnsupportedMediaError(f"cannot sign {kind.mime}; signable types: {names}")
    return kind


def _signable(data: bytes) -> MediaKind:
    """Sniff content, refuse kinds we do not sign, and check the file's structure (truncation)."""
    kind = _signable_kind(data)
    check_structure(data, kind)
    return kind


def _spec(title: str, digital_source_type: str, generator: str | None, parent: str | os.PathLike[str] | None) -> ManifestSpec:
    """Assemble the manifest spec from user options."""
    name, version = parse_generator(generator)
    try:
        source_type_url(digital_source_type)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    loaded = None
    if parent is not None:
        parent_data, parent_kind = read_media(parent)
        loaded = ParentIngredient(data=parent_data, kind=parent_kind, title=Path(parent).name)
    return ManifestSpec(title, digital_source_type, name, version, loaded)


def _resolve_signer(signer: Signer | None) -> Signer:
    """Return the given signer or the configured one."""
    if signer is not None:
        return signer
    from provguard.keys import default_signer

    return default_signer()


def _watermarking(enabled: bool, key: bytes | None, store: ManifestStore | None) -> _Watermarking | None:
    """Resolve the watermark key and store from arguments or the config, when watermarking is on."""
    if not enabled:
        return None
    from provguard.config import load_config
    from provguard.keys import load_watermark_key

    config = load_config() if key is None or store is None else None
    resolved_key = key if key is not None else load_watermark_key(config)
    if store is not None:
        return _Watermarking(resolved_key, store, owns_store=False)
    return _Watermarking(resolved_key, ManifestStore(config.store_path), owns_store=True)  # type: ignore[union-attr]


def _signer_subject(signer: Signer) -> str:
    """Return the subject of the signer's leaf certificate."""
    from provguard.keys import load_certificate_chain

    return load_certificate_chain(signer.certificate_chain_pem())[0].subject.rfc4514_string()


@dataclass(frozen=True)
class _Signed:
    """What one signing pass produced besides the bytes: kind, payload hex, manifest and the mark's read-back."""

    kind: MediaKind
    payload: str | None
    manifest: bytes
    check: PayloadDecision | None


def _sign_stream(
    data: bytes, spec: ManifestSpec, signer: Signer, dest: BinaryIO, marking: _Watermarking | None,
    check: bool = False, require: bool = False, on_frame: Callable[[int, int], None] | None = None,
) -> _Signed:
    """Watermark (when on), sign into dest; with `check`, read the fresh mark back from the marked media first.

    With `require`, a mark that does not read back raises WeakWatermarkError before anything is signed or written.
    """
    kind = _signable(data)
    payload = None
    readback = None
    if marking is not None:
        from provguard.watermark.apply import algorithm_for, detect_media, embed_media_choosing

        algorithm = algorithm_for(kind)
        try:  # a still image or a short clip gets the fresh payload it carries best of a few
            data, chosen = embed_media_choosing(data, kind, marking.store.new_payload, marking.key, on_frame)
        except (WatermarkError, UnsupportedMediaError) as exc:  # the marked copy cannot be made (or not whole)
            raise type(exc)(f"{exc}; sign without a watermark with --no-watermark (watermark=False)") from exc
        payload = payload_hex(chosen)
        if check or require:
            readback = detect_media(data, kind, marking.key)
            if require and not readback.carries(int(payload, 16)):
                raise WeakWatermarkError(f"{readback.weak_mark_message()}; nothing was written")
        spec = dataclasses.replace(
            spec,
            extra_actions=(*spec.extra_actions, watermarked_action()),
            extra_assertions=(*spec.extra_assertions, soft_binding_assertion(algorithm, payload)),
        )
    return _Signed(kind, payload, sign_into(data, kind, spec, signer, dest), readback)


def _record(marking: _Watermarking | None, done: _Signed, signed: bytes, signer: Signer, title: str) -> None:
    """Store payload -> manifest once the signed asset exists."""
    if marking is None or done.payload is None:
        return
    digest = hashlib.sha256(signed).hexdigest()
    marking.store.put(
        StoredManifest(int(done.payload, 16), done.manifest, done.kind.mime, digest, utc_now(), _signer_subject(signer),
                       title)
    )


def sign_bytes(
    data: bytes,
    *,
    title: str = "untitled",
    signer: Signer | None = None,
    digital_source_type: str = "trainedAlgorithmicMedia",
    generator: str | None = None,
    parent: str | os.PathLike[str] | None = None,
    watermark: bool = True,
    watermark_key: bytes | None = None,
    store: ManifestStore | None = None,
) -> bytes:
    """Sign content in memory (watermarked first, by default) and return the signed bytes."""
    spec = _spec(title, digital_source_type, generator, parent)
    resolved = _resolve_signer(signer)
    marking = _watermarking(watermark, watermark_key, store)
    try:
        out = io.BytesIO()
        done = _sign_stream(data, spec, resolved, out, marking)
        _record(marking, done, out.getvalue(), resolved, title)
    finally:
        if marking is not None:
            marking.close()
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
    watermark: bool = True,
    watermark_key: bytes | None = None,
    store: ManifestStore | None = None,
    check_watermark: bool = True,
    require_watermark: bool = False,
    on_frame: Callable[[int, int], None] | None = None,
) -> SignedAsset:
    """Sign a file or bytes; with `output`, write atomically there, else return the signed bytes.

    With `check_watermark` (the default) the mark is read back from the marked media before signing, and the
    decision is kept in SignedAsset.watermark_check: near-silent audio or all-over texture can drown the mark.
    With `require_watermark`, such a mark raises WeakWatermarkError instead, and nothing is written.
    `on_frame(done, total)` follows the watermarking of a video frame by frame (total 0 when unknown).
    """
    if require_watermark and not watermark:
        raise InputError("a watermark cannot be required when watermarking is off (--no-watermark)")
    src_path = None if isinstance(source, bytes) else Path(source)
    data = source if isinstance(source, bytes) else read_media(src_path)[0]  # type: ignore[arg-type]
    out_path = Path(output) if output is not None else None
    if out_path is not None:
        check_output_path(out_path, force, (src_path,) if src_path else ())
        check_output_name(out_path, _signable_kind(data))  # an unsignable input is refused as such, whatever the name
    name = title or (out_path or src_path or Path("untitled")).name
    spec = _spec(name, digital_source_type, generator, parent)
    resolved = _resolve_signer(signer)
    marking = _watermarking(watermark, watermark_key, store)
    try:
        if out_path is None:
            buf = io.BytesIO()
            done = _sign_stream(data, spec, resolved, buf, marking, check_watermark, require_watermark, on_frame)
            _record(marking, done, buf.getvalue(), resolved, name)
            return SignedAsset(done.kind.mime, len(buf.getvalue()), data=buf.getvalue(),
                               watermark_payload=done.payload, watermark_check=done.check)
        with atomic_writer(out_path) as fh:
            done = _sign_stream(data, spec, resolved, fh, marking, check_watermark, require_watermark, on_frame)
            fh.seek(0)
            signed = fh.read()
        _record(marking, done, signed, resolved, name)
        return SignedAsset(done.kind.mime, len(signed), path=out_path, watermark_payload=done.payload,
                           watermark_check=done.check)
    finally:
        if marking is not None:
            marking.close()
