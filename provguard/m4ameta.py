"""An M4A's iTunes metadata (tags, cover art, lyrics: moov/udta), carried byte for byte into a re-encode."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from provguard.errors import CorruptMediaError
from provguard.media import box_name

#: Most boxes read inside one parent; a hostile file can declare millions of empty ones.
MAX_BOXES = 4096
#: moov children carried from the source: user data (iTunes' ilst lives in udta/meta) and a bare meta box.
_CARRIED = (b"udta", b"meta")
#: iTunes freeform items tied to the source's own encoding: iTunSMPB gives its encoder delay and padding, which a
#: player would trim from the new encoding's samples.
_ENCODING_ITEMS = (b"iTunSMPB",)


class MalformedBoxError(CorruptMediaError):
    """An ISO-BMFF box that does not fit its parent."""


@dataclass(frozen=True)
class M4aMetadata:
    """The source's moov-level metadata boxes (as carried) and how many tracks its moov holds."""

    boxes: tuple[bytes, ...] = ()
    tracks: int = 1
    problem: str | None = None  # why the metadata cannot be carried (a malformed box), or None

    def __bool__(self) -> bool:
        return bool(self.boxes)


@dataclass(frozen=True)
class _Box:
    kind: bytes
    start: int
    body: int  # where the payload starts (after the 8- or 16-byte header)
    end: int


def _walk(data: bytes, start: int, end: int) -> Iterator[_Box]:
    """The boxes between start and end, in order, read as needed; trailing zero padding is allowed."""
    pos, count = start, 0
    while pos < end:
        if end - pos < 8:
            if data[pos:end].strip(b"\x00"):
                raise MalformedBoxError(f"{end - pos} stray bytes after the last box")
            return
        size, kind, head = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], 8
        if size == 1:
            if end - pos < 16:
                raise MalformedBoxError("a box header is cut off")
            size, head = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = end - pos  # runs to the end of its parent
        if size < head or pos + size > end:
            raise MalformedBoxError(f"box '{box_name(kind)}' declares {size} bytes, {end - pos} left")
        count += 1
        if count > MAX_BOXES:
            raise MalformedBoxError(f"more than {MAX_BOXES} boxes in one parent")
        yield _Box(kind, pos, pos + head, pos + size)
        pos += size


def _children(data: bytes, start: int, end: int) -> list[_Box]:
    """All the boxes between start and end."""
    return list(_walk(data, start, end))


def _box(kind: bytes, payload: bytes) -> bytes:
    """A box with a 32-bit size header (64-bit where the payload needs it)."""
    if len(payload) + 8 < 1 << 32:
        return (len(payload) + 8).to_bytes(4, "big") + kind + payload
    return (1).to_bytes(4, "big") + kind + (len(payload) + 16).to_bytes(8, "big") + payload


def _meta_children_start(data: bytes, meta: _Box) -> int:
    """Where a meta box's children start: after its version and flags (ISO), or at once (QuickTime's own form)."""
    return meta.body if data[meta.body + 4 : meta.body + 8] == b"hdlr" else min(meta.body + 4, meta.end)


def _freeform_name(data: bytes, item: _Box) -> bytes:
    """The name of an iTunes freeform ('----') item: its 'name' child, after version and flags."""
    for child in _children(data, item.body, item.end):
        if child.kind == b"name":
            return data[child.body + 4 : child.end]
    return b""


#: The path down to the items that may be dropped: moov/udta/meta/ilst (or moov/meta/ilst). Nothing else is opened,
#: so a hostile nesting of boxes is not followed.
_OPENED = {b"udta": b"meta", b"meta": b"ilst"}


def _without_encoding_items(data: bytes, box: _Box) -> bytes:
    """The box as it should be carried: as it is, or rebuilt without the items tied to the source's encoding."""
    return _rebuilt(data, box) or data[box.start : box.end]


def _rebuilt(data: bytes, box: _Box) -> bytes | None:
    """The box rebuilt without the items tied to the source's encoding, or None when it holds none."""
    if box.kind == b"ilst":
        items = list(_children(data, box.body, box.end))
        kept = [i for i in items if not (i.kind == b"----" and _freeform_name(data, i) in _ENCODING_ITEMS)]
        return _box(b"ilst", b"".join(data[i.start : i.end] for i in kept)) if len(kept) < len(items) else None
    if box.kind not in _OPENED:
        return None
    first = _meta_children_start(data, box) if box.kind == b"meta" else box.body
    children = _children(data, first, box.end)
    parts = [_rebuilt(data, c) if c.kind == _OPENED[box.kind] else None for c in children]
    if not any(parts):
        return None
    inner = b"".join(p or data[c.start : c.end] for p, c in zip(parts, children))
    return _box(box.kind, data[box.body : first] + inner)


def m4a_metadata(data: bytes) -> M4aMetadata:
    """The metadata boxes of an M4A's moov that a re-encode would drop, and its track count."""
    try:
        moov = next((b for b in _walk(data, 0, len(data)) if b.kind == b"moov"), None)  # fragments may follow
        if moov is None:
            return M4aMetadata()
        children = _children(data, moov.body, moov.end)
        carried = tuple(_without_encoding_items(data, b) for b in children if b.kind in _CARRIED)
    except MalformedBoxError as exc:
        return M4aMetadata(problem=str(exc))
    return M4aMetadata(carried, sum(b.kind == b"trak" for b in children))


def with_m4a_metadata(encoded: bytes, carried: M4aMetadata) -> bytes:
    """A freshly encoded M4A with the carried boxes in place of its own metadata.

    The encoder writes its moov after the sample data, so resizing the moov moves no chunk offset; a file laid out
    otherwise raises MalformedBoxError rather than be written with broken offsets.
    """
    if not carried:
        return encoded
    top = _children(encoded, 0, len(encoded))
    moov = next((b for b in top if b.kind == b"moov"), None)
    if moov is None or any(b.kind == b"mdat" and b.start > moov.start for b in top):
        raise MalformedBoxError("the encoder did not write its moov after its sample data")
    kept = [encoded[b.start : b.end] for b in _children(encoded, moov.body, moov.end) if b.kind not in _CARRIED]
    new_moov = _box(b"moov", b"".join(kept) + b"".join(carried.boxes))
    return encoded[: moov.start] + new_moov + encoded[moov.end :]
