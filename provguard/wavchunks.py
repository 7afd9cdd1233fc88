"""WAV chunks the audio encoder does not write (bext, iXML, cue points, INFO tags, ...), carried into a re-encode."""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: Chunks the encoder writes itself, padding, and the old C2PA manifest (its content no longer matches).
_NOT_CARRIED = frozenset({b"fmt ", b"data", b"fact", b"PEAK", b"JUNK", b"junk", b"FLLR", b"pad ", b"ds64", b"C2PA"})
#: Most chunks read from one file; a hostile file can hold millions of empty ones.
MAX_CHUNKS = 4096
_RIFF_LIMIT = 0xFFFFFFFF


@dataclass(frozen=True)
class WavChunks:
    """Raw chunks (header, payload and pad byte) found before and after the sample data."""

    before: tuple[bytes, ...] = ()
    after: tuple[bytes, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.before or self.after)


def _walk(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, start, end) of each whole chunk of a RIFF/WAVE file, stopping at the first one cut short."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return []
    chunks: list[tuple[bytes, int, int]] = []
    pos = 12
    while pos + 8 <= len(data) and len(chunks) < MAX_CHUNKS:
        size = struct.unpack_from("<I", data, pos + 4)[0]
        end = pos + 8 + size + (size & 1)
        if pos + 8 + size > len(data):
            break
        chunks.append((data[pos : pos + 4], pos, min(end, len(data))))
        pos = end
    return chunks


def wav_chunks(data: bytes) -> WavChunks:
    """The chunks of a WAV file that a re-encode would drop, split by their place relative to the sample data."""
    before: list[bytes] = []
    after: list[bytes] = []
    seen_data = False
    for cid, start, end in _walk(data):
        if cid == b"data":
            seen_data = True
        if cid in _NOT_CARRIED:
            continue
        raw = data[start:end]
        raw += b"\x00" * ((end - start) & 1)  # a last chunk whose pad byte was left off
        (after if seen_data else before).append(raw)
    return WavChunks(tuple(before), tuple(after))


def with_wav_chunks(encoded: bytes, chunks: WavChunks) -> bytes:
    """A freshly encoded WAV with the carried chunks put back in their places; unchanged when it cannot be done."""
    if not chunks:
        return encoded
    walked = _walk(encoded)
    data_at = next((start for cid, start, _ in walked if cid == b"data"), None)
    if data_at is None:
        return encoded
    keep = {b"fmt ", b"data", b"fact", b"PEAK"}  # what the encoder wrote and the output needs
    head = b"".join(encoded[s:e] for cid, s, e in walked if cid in keep and s < data_at)
    tail = b"".join(encoded[s:e] for cid, s, e in walked if cid in keep and s >= data_at)
    body = b"WAVE" + head + b"".join(chunks.before) + tail + b"".join(chunks.after)
    if len(body) > _RIFF_LIMIT:
        return encoded
    return b"RIFF" + struct.pack("<I", len(body)) + body
