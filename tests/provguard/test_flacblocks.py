"""FLAC metadata blocks (cover art, application data, every tag as written) survive a watermarking re-encode."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import soundfile as sf

from provguard.flacblocks import MAX_BLOCKS, FlacBlocks, flac_blocks, with_flac_blocks
from provguard.media import FLAC
from provguard.mediaio import decode_audio
from provguard.watermark.apply import detect_media, embed_media

SPEECH = Path(__file__).resolve().parents[2] / "fixtures" / "speech" / "allison_vm-intro.flac"
KEY = bytes(range(32))
PAYLOAD = 0x0123456789ABCDEF


def _block(kind: int, body: bytes, last: bool = False) -> bytes:
    return bytes([kind | (0x80 if last else 0)]) + len(body).to_bytes(3, "big") + body


def _blocks(data: bytes) -> list[tuple[int, bytes]]:
    """(type, body) of each metadata block, in order."""
    out, pos = [], 4
    while True:
        head, size = data[pos], int.from_bytes(data[pos + 1 : pos + 4], "big")
        out.append((head & 0x7F, data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
        if head & 0x80:
            return out


def _vorbis(*fields: str) -> bytes:
    vendor = b"field recorder 2.1"
    body = struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(fields))
    return body + b"".join(struct.pack("<I", len(f.encode())) + f.encode() for f in fields)


TAGS = _vorbis("TITLE=Harbour", "ARTIST=Newsroom desk 4", "REPLAYGAIN_TRACK_GAIN=-3.2 dB")
COVER = (struct.pack(">I", 3) + struct.pack(">I", 10) + b"image/jpeg" + struct.pack(">I", 5) + b"Front"
         + struct.pack(">IIII", 1, 1, 24, 0) + struct.pack(">I", 9) + b"\xff\xd8\xff\xe0JPEG!")
APP = b"riff" + b"application data"


def _tagged_flac(*extra: bytes) -> bytes:
    """Real speech as FLAC with tags, cover art, application data, a seek table and padding."""
    x, rate = sf.read(SPEECH, dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="FLAC", subtype="PCM_16")
    fresh = buf.getvalue()
    own = _blocks(fresh)
    frames = fresh[4 + sum(4 + len(body) for _, body in own) :]
    return (b"fLaC" + _block(0, own[0][1]) + _block(3, b"\x00" * 18) + _block(4, TAGS) + _block(2, APP)
            + _block(6, COVER) + b"".join(extra) + _block(1, b"\x00" * 64, last=True) + frames)


def test_marking_keeps_cover_art_application_data_and_every_tag() -> None:
    source = _tagged_flac()
    marked = embed_media(source, FLAC, PAYLOAD, KEY)
    blocks = _blocks(marked)
    assert [kind for kind, _ in blocks] == [0, 4, 2, 6]  # the stale seek table and the padding are not carried
    assert blocks[1:] == [(4, TAGS), (2, APP), (6, COVER)]
    decoded = decode_audio(marked, FLAC)
    assert decoded.tags.get("title") == "Harbour"
    assert decoded.samples.shape == decode_audio(source, FLAC).samples.shape
    assert detect_media(marked, FLAC, KEY).carries(PAYLOAD)


def test_a_block_cut_short_ends_the_walk_without_error() -> None:
    found = flac_blocks(b"fLaC" + _block(4, TAGS) + bytes([6]) + (10_000).to_bytes(3, "big") + b"cut")
    assert found.blocks == (bytes([4]) + len(TAGS).to_bytes(3, "big") + TAGS,)
    assert flac_blocks(b"RIFF not a flac") == FlacBlocks()


def test_a_file_of_endless_empty_blocks_is_read_only_so_far() -> None:
    many = b"fLaC" + _block(2, b"") * (MAX_BLOCKS + 300)
    assert len(flac_blocks(many).blocks) == MAX_BLOCKS


def test_an_output_without_stream_info_is_left_alone() -> None:
    odd = b"fLaC" + _block(4, TAGS, last=True) + b"frames"
    assert with_flac_blocks(odd, FlacBlocks((bytes([6]) + b"\x00\x00\x01x",))) == odd


def test_a_signed_flac_keeps_its_cover_art_when_marked_again(dev_signer) -> None:
    """C2PA puts a FLAC's manifest in an ID3 tag in front of the stream: the blocks behind it are still found."""
    from provguard.sign import sign_bytes

    signed = sign_bytes(_tagged_flac(), signer=dev_signer, watermark=False)
    assert signed.startswith(b"ID3")
    marked = embed_media(signed, FLAC, PAYLOAD, KEY)
    assert _blocks(marked)[1:] == [(4, TAGS), (2, APP), (6, COVER)]
