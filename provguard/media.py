"""Media sniffing by content, size limits and safe file reading."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from provguard.errors import CorruptMediaError, InputError, MediaTooLargeError, UnsupportedMediaError

#: Largest file read into memory by default (bytes); override with PROVGUARD_MAX_BYTES.
DEFAULT_MAX_BYTES = 2 * 1024**3
#: Largest decoded image (pixels) accepted by default; guards against decompression bombs.
DEFAULT_MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class MediaKind:
    """A media type provguard recognises: MIME type, family and usual extension."""

    mime: str
    family: str  # image | audio | video | document
    extension: str


JPEG = MediaKind("image/jpeg", "image", ".jpg")
PNG = MediaKind("image/png", "image", ".png")
WEBP = MediaKind("image/webp", "image", ".webp")
GIF = MediaKind("image/gif", "image", ".gif")
TIFF = MediaKind("image/tiff", "image", ".tif")
DNG = MediaKind("image/x-adobe-dng", "image", ".dng")
AVIF = MediaKind("image/avif", "image", ".avif")
HEIC = MediaKind("image/heic", "image", ".heic")
SVG = MediaKind("image/svg+xml", "image", ".svg")
WAV = MediaKind("audio/wav", "audio", ".wav")
MP3 = MediaKind("audio/mpeg", "audio", ".mp3")
FLAC = MediaKind("audio/flac", "audio", ".flac")
M4A = MediaKind("audio/mp4", "audio", ".m4a")
MP4 = MediaKind("video/mp4", "video", ".mp4")
MOV = MediaKind("video/quicktime", "video", ".mov")
PDF = MediaKind("application/pdf", "document", ".pdf")

#: Formats that provguard can sign (c2pa-rs embeds manifests into each).
SIGNABLE = (JPEG, PNG, WEBP, TIFF, WAV, MP3, FLAC, MP4)


def _sniff_iso_bmff(head: bytes) -> MediaKind | None:
    """Name an ISO-BMFF file (MP4, MOV, M4A, AVIF, HEIC) from its ftyp box."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in (b"avif", b"avis"):
        return AVIF
    if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return HEIC
    if brand in (b"M4A ", b"M4B "):
        return M4A
    if brand == b"qt  ":
        return MOV
    return MP4


def _looks_like_mp3(head: bytes) -> bool:
    """True for an ID3 tag or an MPEG audio frame sync with a valid header."""
    if head.startswith(b"ID3"):
        return True
    if len(head) < 4 or head[0] != 0xFF or (head[1] & 0xE0) != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer == 1 and bitrate not in (0, 15) and rate != 3


def sniff(head: bytes) -> MediaKind:
    """Return the media kind of content from its first bytes, never from a file name."""
    if not head:
        raise InputError("file is empty")
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return WAV
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return DNG if b"\xc6\x12" in head[:4096] or b"\x12\xc6" in head[:4096] else TIFF
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"%PDF-"):
        return PDF
    bmff = _sniff_iso_bmff(head)
    if bmff is not None:
        return bmff
    if _looks_like_mp3(head):
        return MP3
    text = head[:1024].lstrip().lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in head[:4096].lower()):
        return SVG
    raise UnsupportedMediaError("not a supported media file (content matches no known image, audio or video format)")


def max_bytes() -> int:
    """Return the configured largest input size in bytes."""
    raw = os.environ.get("PROVGUARD_MAX_BYTES")
    if raw is None:
        return DEFAULT_MAX_BYTES
    try:
        return int(raw)
    except ValueError as exc:
        raise InputError(f"PROVGUARD_MAX_BYTES must be an integer, got {raw!r}") from exc


def read_media(path: str | os.PathLike[str], limit: int | None = None) -> tuple[bytes, MediaKind]:
    """Read a file within the size limit and sniff its kind; raise InputError on anything unusable."""
    p = Path(path)
    limit = max_bytes() if limit is None else limit
    try:
        if p.is_dir():
            raise InputError(f"{p} is a directory (use -r to verify directories)")
        size = p.stat().st_size
        if size > limit:
            raise MediaTooLargeError(f"file is {size} bytes, over the {limit}-byte limit (PROVGUARD_MAX_BYTES)")
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError as exc:
        raise InputError(f"no such file: {p}") from exc
    except PermissionError as exc:
        raise InputError(f"permission denied: {p}") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{p} is a directory") from exc
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise MediaTooLargeError(f"file is over the {limit}-byte limit (PROVGUARD_MAX_BYTES)")
    return data, sniff(data[:8192])


def check_structure(data: bytes, kind: MediaKind) -> None:
    """Reject content that is visibly truncated for its kind, with a one-line reason."""
    if kind is JPEG and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise CorruptMediaError("JPEG is truncated (no end-of-image marker)")
    if kind is PNG and b"IEND" not in data[-32:]:
        raise CorruptMediaError("PNG is truncated (no IEND chunk)")
    if kind in (WAV, WEBP) and data[:4] == b"RIFF" and len(data) >= 8:
        declared = int.from_bytes(data[4:8], "little") + 8
        if declared > len(data):
            raise CorruptMediaError(f"{kind.mime} is truncated ({len(data)} of {declared} bytes)")
