"""Media sniffing by content, size limits and safe file reading."""

from __future__ import annotations

import itertools
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from provguard.bmff import MalformedBoxError, track_handlers, walk
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
WEBM = MediaKind("video/webm", "video", ".webm")
MKV = MediaKind("video/x-matroska", "video", ".mkv")
OGG = MediaKind("audio/ogg", "audio", ".ogg")

#: Formats that provguard can sign (c2pa-rs embeds manifests into each).
SIGNABLE = (JPEG, PNG, WEBP, TIFF, WAV, MP3, FLAC, M4A, MP4)

#: Kinds C2PA defines no place for a manifest in, which platforms and messengers still re-encode signed content into
#: (a video site's WebM download, a voice note's Ogg Opus): only the watermark can point back to the credentials.
NO_MANIFEST_KINDS = (WEBM, MKV, OGG)

_ALL_KINDS = (JPEG, PNG, WEBP, GIF, TIFF, DNG, AVIF, HEIC, SVG, WAV, MP3, FLAC, M4A, MP4, MOV, PDF, WEBM, MKV, OGG)
#: Every kind with an extension of its own, and the usual alternative spellings.
_BY_EXTENSION = {k.extension: k for k in _ALL_KINDS}
_BY_EXTENSION.update({".jpeg": JPEG, ".jpe": JPEG, ".tiff": TIFF, ".wave": WAV, ".m4v": MP4, ".heif": HEIC,
                      ".opus": OGG, ".oga": OGG})
_BY_MIME = {k.mime: k for k in _ALL_KINDS}
#: Names that audio/mp4 content may carry besides .m4a: an MP4 of sound alone is often named .mp4 (or .m4b).
_AUDIO_MP4_EXTENSIONS = (".mp4", ".m4b")


def kind_for_mime(mime: str) -> MediaKind | None:
    """The kind a MIME type names (as stored beside a manifest), or None for one provguard does not know."""
    return _BY_MIME.get(mime)


def check_output_name(output: str | os.PathLike[str], kind: MediaKind) -> None:
    """Refuse an output name whose extension names another format than the content it would hold."""
    suffix = Path(output).suffix.lower()
    named = _BY_EXTENSION.get(suffix)
    if named is not None and named != kind and not (kind is M4A and suffix in _AUDIO_MP4_EXTENSIONS):
        raise InputError(
            f"output {Path(output).name} is named as {named.mime}, but the content is {kind.mime}: "
            f"give it a {kind.extension} name"
        )


def _sniff_iso_bmff(head: bytes) -> MediaKind | None:
    """Name an ISO-BMFF file (MP4, MOV, M4A, AVIF, HEIC) from its ftyp box, and an MP4 of sound alone as M4A."""
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
    return M4A if _sound_only(head) else MP4


def _sound_only(data: bytes) -> bool:
    """Whether an MP4's moov (when the buffer holds it whole) lists sound tracks and no picture: audio/mp4."""
    try:
        handlers = track_handlers(data, _MAX_BMFF_BOXES)
    except CorruptMediaError:  # only the start of the file, or a broken one: the brand decides
        return False
    return b"soun" in handlers and b"vide" not in handlers


#: TIFF tag DNGVersion: present in IFD0 of every DNG file.
_DNG_VERSION_TAG = 50706


def _tiff_has_dng_version(head: bytes) -> bool:
    """True if the first IFD of a TIFF header lists the DNGVersion tag (pixel bytes are never searched)."""
    order = "little" if head[:2] == b"II" else "big"
    ifd = int.from_bytes(head[4:8], order)
    if ifd < 8 or ifd + 2 > len(head):
        return False
    count = int.from_bytes(head[ifd : ifd + 2], order)
    for index in range(min(count, (len(head) - ifd - 2) // 12)):
        entry = ifd + 2 + 12 * index
        if int.from_bytes(head[entry : entry + 2], order) == _DNG_VERSION_TAG:
            return True
    return False


#: Most ID3v2 tags skipped in a row when looking for the content behind them.
_MAX_ID3_TAGS = 8


def id3_end(data: bytes) -> int:
    """Return the offset just past the ID3v2 tags at the start of `data` (0 if there are none)."""
    pos = 0
    for _ in range(_MAX_ID3_TAGS):
        header = data[pos : pos + 10]
        if len(header) < 10 or not header.startswith(b"ID3") or any(b & 0x80 for b in header[6:10]):
            break
        size = (header[6] << 21) | (header[7] << 14) | (header[8] << 7) | header[9]
        pos += 10 + size + (10 if header[5] & 0x10 else 0)
    return pos


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
    """Return the media kind of content from its first bytes (or all of it), never from a file name.

    An ID3v2 tag in front (as c2pa writes into signed FLAC) is looked through when the buffer holds
    what follows it; pass the whole content to tell a tagged FLAC from an MP3.
    """
    if not head:
        raise InputError("file is empty")
    if head.startswith(b"ID3"):
        behind = head[id3_end(head) :]
        if behind.startswith(b"fLaC"):
            return FLAC
        return MP3
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return WAV
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return DNG if _tiff_has_dng_version(head) else TIFF
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, or its WebM profile (DocType "webm")
        return WEBM if b"webm" in head[:64] else MKV
    if head.startswith(b"OggS"):
        return OGG
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
    """Return the configured largest input size in bytes (PROVGUARD_MAX_BYTES, else DEFAULT_MAX_BYTES)."""
    raw = os.environ.get("PROVGUARD_MAX_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        value = int(raw)
    except ValueError as exc:
        raise InputError(f"PROVGUARD_MAX_BYTES must be an integer, got {raw!r}") from exc
    if value < 1:
        raise InputError(f"PROVGUARD_MAX_BYTES must be a positive number of bytes, got {value}")
    return value


def read_media(path: str | os.PathLike[str], limit: int | None = None) -> tuple[bytes, MediaKind]:
    """Read a regular file within the size limit and sniff its kind; raise InputError on anything unusable."""
    p = Path(path)
    limit = max_bytes() if limit is None else limit
    try:
        info = p.stat()
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{p} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{p} is not a regular file")
        if info.st_size > limit:
            raise MediaTooLargeError(
                f"file is {info.st_size} bytes, over the {limit}-byte limit (PROVGUARD_MAX_BYTES)"
            )
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
    return data, sniff(data)


#: Most zero padding looked through after a JPEG's end-of-image marker (more reads as truncated).
_MAX_TRAILING_PADDING = 65536
#: RIFF size written by streaming encoders that could not seek back (length unknown, not truncated).
_RIFF_UNKNOWN_SIZE = 0xFFFFFFFF
#: ISO-BMFF kinds whose top-level box layout check_structure walks.
_BMFF_KINDS = (MP4, MOV, M4A, AVIF, HEIC)
#: Most top-level boxes walked before giving up (a hostile file could declare millions of tiny boxes).
_MAX_BMFF_BOXES = 100_000


def _check_bmff(data: bytes, kind: MediaKind) -> None:
    """Walk the top-level ISO-BMFF boxes (the first _MAX_BMFF_BOXES of them); every box must fit inside the file."""
    try:
        for _ in itertools.islice(walk(data, 0, len(data), _MAX_BMFF_BOXES + 1), _MAX_BMFF_BOXES):
            pass
    except MalformedBoxError as exc:
        raise CorruptMediaError(f"{kind.mime} is {'truncated' if exc.truncated else 'malformed'} ({exc})") from exc


def _check_flac(data: bytes) -> None:
    """Walk a FLAC stream's metadata blocks (after any ID3 tag); each must fit, and audio must follow."""
    pos = id3_end(data)
    if data[pos : pos + 4] != b"fLaC":
        raise CorruptMediaError("FLAC is malformed (no fLaC marker)")
    pos += 4
    while True:
        if pos + 4 > len(data):
            raise CorruptMediaError("FLAC is truncated (metadata block header cut off)")
        last, size = data[pos] & 0x80, int.from_bytes(data[pos + 1 : pos + 4], "big")
        pos += 4 + size
        if pos > len(data):
            raise CorruptMediaError("FLAC is truncated (metadata block cut off)")
        if last:
            break
    if pos >= len(data):
        raise CorruptMediaError("FLAC is truncated (no audio frames)")


def _check_tiff(data: bytes, kind: MediaKind) -> None:
    """The first IFD of a TIFF must lie inside the file."""
    order = "little" if data[:2] == b"II" else "big"
    ifd = int.from_bytes(data[4:8], order)
    if len(data) < 8 or ifd < 8 or ifd + 2 > len(data):
        raise CorruptMediaError(f"{kind.mime} is truncated (first directory outside the file)")
    count = int.from_bytes(data[ifd : ifd + 2], order)
    if ifd + 2 + 12 * count > len(data):
        raise CorruptMediaError(f"{kind.mime} is truncated (first directory cut off)")


#: Most Ogg pages walked (an hour of Opus is a few thousand; a hostile file could declare millions of empty ones).
_MAX_OGG_PAGES = 1_000_000


def _check_ogg(data: bytes) -> None:
    """Walk an Ogg stream's pages; each must fit inside the file."""
    pos = 0
    for _ in range(_MAX_OGG_PAGES):
        if pos == len(data):
            return
        if data[pos : pos + 4] != b"OggS" or len(data) - pos < 27:
            raise CorruptMediaError(f"audio/ogg is malformed or truncated (no whole page at byte {pos})")
        segments = data[pos + 26]
        lacing = data[pos + 27 : pos + 27 + segments]
        end = pos + 27 + segments + sum(lacing)
        if len(lacing) < segments or end > len(data):
            raise CorruptMediaError(f"audio/ogg is truncated (the page at byte {pos} is cut off)")
        pos = end


#: EBML IDs of the Matroska (WebM) header and Segment elements.
_EBML_HEADER, _EBML_SEGMENT = 0x1A45DFA3, 0x18538067


def _ebml_number(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int, bool]:
    """An EBML variable-length number at pos: (value, its length, whether it is the all-ones 'unknown' size)."""
    if pos >= len(data) or data[pos] == 0:
        raise CorruptMediaError("video is truncated or malformed (an EBML element header is cut off)")
    length = 9 - data[pos].bit_length()
    raw = data[pos : pos + length]
    if len(raw) < length:
        raise CorruptMediaError("video is truncated (an EBML element header is cut off)")
    value = int.from_bytes(raw, "big")
    if not keep_marker:
        value &= (1 << (7 * length)) - 1
    return value, length, value == (1 << (7 * length)) - 1


def _check_ebml(data: bytes, kind: MediaKind) -> None:
    """The EBML header and the Segment of a WebM or Matroska file must fit inside the file (unless live-sized)."""
    pos = 0
    for expected in (_EBML_HEADER, _EBML_SEGMENT):
        element, id_len, _ = _ebml_number(data, pos, keep_marker=True)
        if element != expected:
            raise CorruptMediaError(f"{kind.mime} is malformed (element {element:#x} where {expected:#x} belongs)")
        size, size_len, unknown = _ebml_number(data, pos + id_len, keep_marker=False)
        end = pos + id_len + size_len + size
        if unknown:
            return  # a live stream's Segment runs to the end of the file
        if end > len(data):
            raise CorruptMediaError(f"{kind.mime} is truncated ({len(data)} of {end} bytes)")
        pos = end


def check_structure(data: bytes, kind: MediaKind) -> None:
    """Reject content that is visibly truncated for its kind, with a one-line reason."""
    if kind is JPEG and not data[-_MAX_TRAILING_PADDING:].rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise CorruptMediaError("JPEG is truncated (no end-of-image marker)")
    if kind is PNG and b"IEND" not in data[-32:]:
        raise CorruptMediaError("PNG is truncated (no IEND chunk)")
    if kind in (WAV, WEBP) and data[:4] == b"RIFF" and len(data) >= 8:
        declared = int.from_bytes(data[4:8], "little") + 8
        if declared - 8 != _RIFF_UNKNOWN_SIZE and declared > len(data):
            raise CorruptMediaError(f"{kind.mime} is truncated ({len(data)} of {declared} bytes)")
    if kind in _BMFF_KINDS:
        _check_bmff(data, kind)
    if kind is FLAC:
        _check_flac(data)
    if kind in (TIFF, DNG):
        _check_tiff(data, kind)
    if kind is OGG:
        _check_ogg(data)
    if kind in (WEBM, MKV):
        _check_ebml(data, kind)
