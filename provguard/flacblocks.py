"""FLAC metadata blocks the audio encoder does not write (pictures, cue sheets, full tags), carried into a re-encode."""

from __future__ import annotations

from dataclasses import dataclass

from provguard.media import id3_end

_STREAMINFO, _VORBIS_COMMENT = 0, 4
#: Blocks carried byte for byte: APPLICATION, VORBIS_COMMENT (every tag, as written), CUESHEET, PICTURE (cover art).
_CARRIED = frozenset({2, _VORBIS_COMMENT, 5, 6})
#: Most blocks read from one file.
MAX_BLOCKS = 1024


@dataclass(frozen=True)
class FlacBlocks:
    """Raw metadata blocks (type byte without the last-block flag, then length and body) in their file order."""

    blocks: tuple[bytes, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.blocks)

    @property
    def has_tags(self) -> bool:
        """Whether the tags (VORBIS_COMMENT) are among the carried blocks."""
        return any(block[0] == _VORBIS_COMMENT for block in self.blocks)


def _walk(data: bytes) -> tuple[list[bytes], int]:
    """The whole metadata blocks of a FLAC stream (last-block flag cleared) and where the audio frames start."""
    if data[:4] != b"fLaC":
        return [], 0
    blocks: list[bytes] = []
    pos = 4
    while pos + 4 <= len(data) and len(blocks) < MAX_BLOCKS:
        head = data[pos]
        end = pos + 4 + int.from_bytes(data[pos + 1 : pos + 4], "big")
        if end > len(data):
            return blocks, 0
        blocks.append(bytes([head & 0x7F]) + data[pos + 1 : end])
        pos = end
        if head & 0x80:
            return blocks, pos
    return blocks, 0


def flac_blocks(data: bytes) -> FlacBlocks:
    """The metadata blocks of a FLAC file that a re-encode would drop or rewrite.

    An ID3v2 tag in front of the stream (where C2PA keeps a FLAC's manifest) is looked past and not carried.
    """
    return FlacBlocks(tuple(b for b in _walk(data[id3_end(data) :])[0] if b[0] in _CARRIED))


def with_flac_blocks(encoded: bytes, carried: FlacBlocks) -> bytes:
    """A freshly encoded FLAC with the carried blocks in place of its own; unchanged when it cannot be done."""
    if not carried:
        return encoded
    own, frames_at = _walk(encoded)
    if not frames_at or not own or own[0][0] != _STREAMINFO:
        return encoded
    replaced = {b[0] for b in carried.blocks}
    blocks = [own[0], *carried.blocks, *(b for b in own[1:] if b[0] not in replaced)]
    blocks[-1] = bytes([blocks[-1][0] | 0x80]) + blocks[-1][1:]
    return b"fLaC" + b"".join(blocks) + encoded[frames_at:]
