"""ISO-BMFF (MP4, M4A) boxes: walked one parent at a time, each checked to fit inside it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from provguard.errors import CorruptMediaError

#: Most boxes read inside one parent by default; a hostile file can declare millions of empty ones.
MAX_BOXES = 4096


class MalformedBoxError(CorruptMediaError):
    """An ISO-BMFF box that does not fit its parent (truncated: the data ends before it does)."""

    def __init__(self, message: str, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


@dataclass(frozen=True)
class Box:
    """Where one box lies: its type, its first byte, its payload's first byte and the byte after it."""

    kind: bytes
    start: int
    body: int  # after the 8- or 16-byte header
    end: int


def box_name(raw: bytes) -> str:
    """A box type as printable text (hostile files may put control characters there)."""
    return "".join(ch if ch.isprintable() else "?" for ch in raw.decode("latin-1"))


def walk(data: bytes, start: int, end: int, max_boxes: int = MAX_BOXES) -> Iterator[Box]:
    """The boxes between start and end, in order, read as needed; trailing zero padding is allowed."""
    pos, count = start, 0
    while pos < end:
        if end - pos < 8:
            if data[pos:end].strip(b"\x00"):
                raise MalformedBoxError(f"{end - pos} stray bytes after the last box", truncated=True)
            return  # a little zero padding after the last box
        size, kind, head = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], 8
        if size == 1:
            if end - pos < 16:
                raise MalformedBoxError("box header cut off", truncated=True)
            size, head = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = end - pos  # runs to the end of its parent
        if size < head:
            raise MalformedBoxError(f"box '{box_name(kind)}' declares {size} bytes")
        if pos + size > end:
            raise MalformedBoxError(f"box '{box_name(kind)}' needs {size} bytes, {end - pos} left", truncated=True)
        count += 1
        if count > max_boxes:
            raise MalformedBoxError(f"more than {max_boxes} boxes in one parent")
        yield Box(kind, pos, pos + head, pos + size)
        pos += size


def first(data: bytes, parent: Box | None, kind: bytes, max_boxes: int = MAX_BOXES) -> Box | None:
    """The first box of a type inside a parent (None: the top level), or None."""
    start, end = (0, len(data)) if parent is None else (parent.body, parent.end)
    return next((b for b in walk(data, start, end, max_boxes) if b.kind == kind), None)


def make_box(kind: bytes, payload: bytes) -> bytes:
    """A box with a 32-bit size header (64-bit where the payload needs it)."""
    if len(payload) + 8 < 1 << 32:
        return (len(payload) + 8).to_bytes(4, "big") + kind + payload
    return (1).to_bytes(4, "big") + kind + (len(payload) + 16).to_bytes(8, "big") + payload


def track_handlers(data: bytes, max_boxes: int = MAX_BOXES) -> list[bytes]:
    """The handler type of every track in the moov ('vide', 'soun', 'text', ...); empty without a whole moov."""
    moov = first(data, None, b"moov", max_boxes)
    if moov is None:
        return []
    handlers = []
    for trak in walk(data, moov.body, moov.end):
        mdia = first(data, trak, b"mdia") if trak.kind == b"trak" else None
        hdlr = first(data, mdia, b"hdlr") if mdia is not None else None
        if hdlr is not None:
            handlers.append(data[hdlr.body + 8 : hdlr.body + 12])  # after version, flags and pre_defined
    return handlers
