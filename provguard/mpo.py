"""Multi-picture JPEG (MPO): a phone's extra pictures (gain map, depth map) carried into a re-encode byte for byte."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from provguard.imagemeta import jpeg_header_end, jpeg_segment_bounds

_MP_ENTRY = 0xB002
#: Most pictures one index may list.
MAX_PICTURES = 64


@dataclass(frozen=True)
class ExtraPictures:
    """The original multi-picture index segment and the pictures after the primary, in index order."""

    segment: bytes = b""
    pictures: tuple[bytes, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.pictures)


def _index(segment: bytes) -> tuple[str, int, int] | None:
    """(byte order, where the entries start in the segment, entry count) of an APP2 MPF segment, or None."""
    base = 8  # marker, length, "MPF\0"
    head = segment[base : base + 8]
    if len(head) < 8 or head[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    order = "<" if head[:2] == b"II" else ">"
    ifd = base + struct.unpack_from(order + "I", head, 4)[0]
    if ifd + 2 > len(segment):
        return None
    for i in range(min(struct.unpack_from(order + "H", segment, ifd)[0], 64)):
        at = ifd + 2 + 12 * i
        if at + 12 > len(segment):
            return None
        tag, _, count, value = struct.unpack_from(order + "HHII", segment, at)
        if tag == _MP_ENTRY and count % 16 == 0 and 2 <= count // 16 <= MAX_PICTURES + 1:
            start = base + value
            return (order, start, count // 16) if start + count <= len(segment) else None
    return None


def extra_pictures(data: bytes) -> ExtraPictures:
    """The pictures an MPO's index lists after the primary one; empty when there are none or the index is damaged."""
    found = next(((s, e) for marker, s, e in jpeg_segment_bounds(data)
                  if marker == 0xE2 and data[s + 4 : s + 8] == b"MPF\x00"), None)
    if found is None:
        return ExtraPictures()
    segment = data[found[0] : found[1]]
    index = _index(segment)
    if index is None:
        return ExtraPictures()
    order, start, count = index
    base = found[0] + 8
    pictures = []
    for i in range(1, count):
        _, size, offset, _, _ = struct.unpack_from(order + "IIIHH", segment, start + 16 * i)
        picture = data[base + offset : base + offset + size]
        if offset == 0 or len(picture) != size or picture[:2] != b"\xff\xd8":
            return ExtraPictures()
        pictures.append(picture)
    return ExtraPictures(segment, tuple(pictures))


def with_extra_pictures(encoded: bytes, extras: ExtraPictures) -> bytes:
    """A fresh primary JPEG with the index (sizes and offsets rewritten) and the extra pictures after it."""
    if not extras:
        return encoded
    at = jpeg_header_end(encoded)
    index = _index(extras.segment)
    if not at or index is None:
        return encoded
    order, start, _ = index
    segment = bytearray(extras.segment)
    primary = len(encoded) + len(segment)
    struct.pack_into(order + "II", segment, start + 4, primary, 0)  # entry 0: the primary, at offset 0
    position = primary - (at + 8)  # offsets count from the index's byte-order mark
    for i, picture in enumerate(extras.pictures, start=1):
        struct.pack_into(order + "II", segment, start + 16 * i + 4, len(picture), position)
        position += len(picture)
    return encoded[:at] + bytes(segment) + encoded[at:] + b"".join(extras.pictures)
