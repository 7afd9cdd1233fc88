"""An M4A's iTunes metadata (tags, cover art, lyrics: moov/udta), carried byte for byte into a re-encode."""

from __future__ import annotations

from dataclasses import dataclass

from provguard.bmff import Box, MalformedBoxError, first, make_box, walk

#: Most top-level boxes walked to find the moov (a hostile file could declare millions of tiny boxes).
_MAX_TOP_BOXES = 100_000
#: moov children carried from the source: user data (iTunes' ilst lives in udta/meta) and a bare meta box.
_CARRIED = (b"udta", b"meta")
#: iTunes freeform items tied to the source's own encoding: iTunSMPB gives its encoder delay and padding, which a
#: player would trim from the new encoding's samples.
_ENCODING_ITEMS = (b"iTunSMPB",)


@dataclass(frozen=True)
class M4aMetadata:
    """The source's moov-level metadata boxes (as carried) and how many tracks its moov holds."""

    boxes: tuple[bytes, ...] = ()
    tracks: int = 1
    problem: str | None = None  # why the metadata cannot be carried (a malformed box), or None

    def __bool__(self) -> bool:
        return bool(self.boxes)


def _children(data: bytes, start: int, end: int) -> list[Box]:
    """All the boxes between start and end."""
    return list(walk(data, start, end))


def _meta_children_start(data: bytes, meta: Box) -> int:
    """Where a meta box's children start: after its version and flags (ISO), or at once (QuickTime's own form)."""
    return meta.body if data[meta.body + 4 : meta.body + 8] == b"hdlr" else min(meta.body + 4, meta.end)


def _freeform_name(data: bytes, item: Box) -> bytes:
    """The name of an iTunes freeform ('----') item: its 'name' child, after version and flags."""
    for child in _children(data, item.body, item.end):
        if child.kind == b"name":
            return data[child.body + 4 : child.end]
    return b""


#: The path down to the items that may be dropped: moov/udta/meta/ilst (or moov/meta/ilst). Nothing else is opened,
#: so a hostile nesting of boxes is not followed.
_OPENED = {b"udta": b"meta", b"meta": b"ilst"}


def _without_encoding_items(data: bytes, box: Box) -> bytes:
    """The box as it should be carried: as it is, or rebuilt without the items tied to the source's encoding."""
    return _rebuilt(data, box) or data[box.start : box.end]


def _rebuilt(data: bytes, box: Box) -> bytes | None:
    """The box rebuilt without the items tied to the source's encoding, or None when it holds none."""
    if box.kind == b"ilst":
        items = list(_children(data, box.body, box.end))
        kept = [i for i in items if not (i.kind == b"----" and _freeform_name(data, i) in _ENCODING_ITEMS)]
        return make_box(b"ilst", b"".join(data[i.start : i.end] for i in kept)) if len(kept) < len(items) else None
    if box.kind not in _OPENED:
        return None
    inner_start = _meta_children_start(data, box) if box.kind == b"meta" else box.body
    children = _children(data, inner_start, box.end)
    parts = [_rebuilt(data, c) if c.kind == _OPENED[box.kind] else None for c in children]
    if not any(parts):
        return None
    inner = b"".join(p or data[c.start : c.end] for p, c in zip(parts, children))
    return make_box(box.kind, data[box.body : inner_start] + inner)


def m4a_metadata(data: bytes) -> M4aMetadata:
    """The metadata boxes of an M4A's moov that a re-encode would drop, and its track count."""
    try:
        moov = first(data, None, b"moov", _MAX_TOP_BOXES)  # fragments may follow it
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
    new_moov = make_box(b"moov", b"".join(kept) + b"".join(carried.boxes))
    return encoded[: moov.start] + new_moov + encoded[moov.end :]
