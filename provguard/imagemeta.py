"""Image metadata the encoder does not write (XMP, IPTC, comments, PNG text), carried into a re-encode byte for byte."""

from __future__ import annotations

import struct

#: Most segments or chunks read from one file; a hostile file can hold millions of empty ones.
MAX_PARTS = 4096

# JPEG -------------------------------------------------------------------------------------------------------------

_SOI, _SOS, _COM = 0xD8, 0xDA, 0xFE
#: APPn segments the encoder writes from its own arguments, or that would be wrong in the new file: JFIF (APP0),
#: Exif (APP1, kept through the encoder), ICC profile and multi-picture index (APP2), the old C2PA manifest
#: (APP11 JUMBF: its hash no longer matches), Adobe's colour-transform flag (APP14: the encoder picks its own).
_JPEG_SKIPPED = ((0xE0, b""), (0xE1, b"Exif\x00"), (0xE2, b"ICC_PROFILE\x00"), (0xE2, b"MPF\x00"), (0xEB, b""),
                 (0xEE, b""))


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """(marker, start, end) of the whole segments before the scan data, and where the first non-APP/COM one starts."""
    if data[:2] != b"\xff\xd8":
        return [], 0
    parts: list[tuple[int, int, int]] = []
    pos, first_other = 2, 0
    while pos + 4 <= len(data) and len(parts) < MAX_PARTS:
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (_SOI, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        end = pos + 2 + struct.unpack_from(">H", data, pos + 2)[0]
        if end > len(data):
            break
        if not (0xE0 <= marker <= 0xEF or marker == _COM) and not first_other:
            first_other = pos
        parts.append((marker, pos, end))
        if marker == _SOS:
            break
        pos = end
    return parts, first_other


def jpeg_segment_bounds(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of a JPEG's whole segments up to and including the start of scan."""
    return _jpeg_segments(data)[0]


def jpeg_header_end(data: bytes) -> int:
    """Where a JPEG's leading APPn and comment segments end (its first other segment); 0 when there is none."""
    return _jpeg_segments(data)[1]


def jpeg_metadata(data: bytes) -> tuple[bytes, ...]:
    """The APPn and comment segments of a JPEG that a re-encode would drop (XMP, IPTC, comments, ...)."""
    kept = []
    for marker, start, end in _jpeg_segments(data)[0]:
        if not (0xE0 <= marker <= 0xEF or marker == _COM):
            continue
        body = data[start + 4 : end]
        if any(marker == m and body.startswith(sig) for m, sig in _JPEG_SKIPPED):
            continue
        kept.append(data[start:end])
    return tuple(kept)


def with_jpeg_metadata(encoded: bytes, segments: tuple[bytes, ...]) -> bytes:
    """A fresh JPEG with the carried segments after its own leading APPn segments; unchanged when it cannot be done."""
    if not segments:
        return encoded
    at = jpeg_header_end(encoded)
    return encoded[:at] + b"".join(segments) + encoded[at:] if at else encoded


# PNG --------------------------------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Known chunks carried: text (tEXt, zTXt, iTXt, which hold XMP and generators' prompts), time and colour rendering.
_PNG_CARRIED = frozenset({b"tEXt", b"zTXt", b"iTXt", b"tIME", b"gAMA", b"cHRM", b"sRGB", b"cICP", b"mDCV", b"cLLI"})
#: Known ancillary chunks not carried: written by the encoder (iCCP, pHYs, eXIf), tied to the old pixels or palette
#: (tRNS, bKGD, hIST, sPLT, sBIT, iDOT), animation, or the old C2PA manifest (caBX).
_PNG_DROPPED = frozenset({b"iCCP", b"pHYs", b"eXIf", b"tRNS", b"bKGD", b"hIST", b"sPLT", b"sBIT", b"iDOT", b"acTL",
                          b"fcTL", b"fdAT", b"caBX"})


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of the whole chunks of a PNG file, stopping at the first one cut short."""
    if data[:8] != _PNG_SIGNATURE:
        return []
    chunks: list[tuple[bytes, int, int]] = []
    pos = 8
    while pos + 12 <= len(data) and len(chunks) < MAX_PARTS:
        end = pos + 12 + struct.unpack_from(">I", data, pos)[0]
        if end > len(data):
            break
        chunks.append((data[pos + 4 : pos + 8], pos, end))
        pos = end
    return chunks


def _png_carried(ctype: bytes) -> bool:
    if ctype in _PNG_CARRIED:
        return True
    if ctype in _PNG_DROPPED or len(ctype) != 4:
        return False
    ancillary, safe_to_copy = ctype[0:1].islower(), ctype[3:4].islower()  # the PNG chunk-naming rules
    return ancillary and safe_to_copy


def png_metadata(data: bytes) -> tuple[bytes, ...]:
    """The chunks of a PNG that a re-encode would drop (text, XMP, time, colour rendering, private safe-to-copy)."""
    return tuple(data[s:e] for ctype, s, e in _png_chunks(data) if _png_carried(ctype))


def with_png_metadata(encoded: bytes, chunks: tuple[bytes, ...]) -> bytes:
    """A fresh PNG with the carried chunks before its image data; unchanged when it cannot be done."""
    first = {ctype: start for ctype, start, _ in reversed(_png_chunks(encoded))}  # where each type first occurs
    if not chunks or b"IDAT" not in first:
        return encoded
    if b"iCCP" in first:  # a PNG holds an ICC profile or the sRGB flag, not both
        chunks = tuple(c for c in chunks if c[4:8] != b"sRGB")
    at = first[b"IDAT"]
    return encoded[:at] + b"".join(chunks) + encoded[at:]
