"""A multi-picture JPEG (a phone's gain map or depth map) keeps its extra pictures, byte for byte, when marked."""

from __future__ import annotations

import io
import struct

from PIL import Image

from provguard.demo import synthetic_image
from provguard.keys import load_watermark_key
from provguard.media import JPEG
from provguard.mpo import ExtraPictures, extra_pictures, with_extra_pictures
from provguard.report import TRUSTED
from provguard.sign import sign_bytes
from provguard.verify import verify_bytes
from provguard.watermark.apply import detect_media, embed_media

KEY = bytes(range(32))
PAYLOAD = 0x0123456789ABCDEF


def _phone_mpo() -> bytes:
    """A primary photo and a quarter-size second picture, as Pillow's MPO writer stores them."""
    primary = Image.fromarray(synthetic_image(7, (512, 384)))
    gain_map = Image.fromarray(synthetic_image(8, (128, 96)))
    buf = io.BytesIO()
    primary.save(buf, "MPO", save_all=True, append_images=[gain_map], quality=90)
    return buf.getvalue()


def test_marking_keeps_the_second_picture_byte_for_byte() -> None:
    source = _phone_mpo()
    kept = extra_pictures(source)
    assert len(kept.pictures) == 1
    marked = embed_media(source, JPEG, PAYLOAD, KEY)
    assert extra_pictures(marked).pictures == kept.pictures
    shown = Image.open(io.BytesIO(marked))
    assert shown.n_frames == 2
    shown.seek(1)
    assert shown.size == (128, 96)
    assert detect_media(marked, JPEG, KEY).carries(PAYLOAD)


def test_signed_mpo_verifies_and_keeps_its_second_picture(dev_signer, dev_root_pem: bytes) -> None:
    source = _phone_mpo()
    signed = sign_bytes(source, signer=dev_signer)
    report = verify_bytes(signed, None, dev_root_pem)
    assert report.provenance.state == TRUSTED
    assert detect_media(signed, JPEG, load_watermark_key()).detected
    assert extra_pictures(signed).pictures == extra_pictures(source).pictures


def _set_offset_of_second_picture(data: bytes, offset: int) -> bytes:
    at = data.index(b"MPF\x00") + 4
    order = "<" if data[at : at + 2] == b"II" else ">"
    entries = data.index(struct.pack(order + "HHI", 0xB002, 7, 32), at)
    start = at + struct.unpack_from(order + "I", data, entries + 8)[0]
    patched = bytearray(data)
    struct.pack_into(order + "I", patched, start + 16 + 8, offset)
    return bytes(patched)


def test_a_damaged_index_carries_nothing_and_the_primary_is_still_marked() -> None:
    broken = _set_offset_of_second_picture(_phone_mpo(), 10_000_000)
    assert extra_pictures(broken) == ExtraPictures()
    assert detect_media(embed_media(broken, JPEG, PAYLOAD, KEY), JPEG, KEY).carries(PAYLOAD)


def test_a_plain_jpeg_has_no_extra_pictures() -> None:
    buf = io.BytesIO()
    Image.fromarray(synthetic_image(9, (64, 48))).save(buf, "JPEG")
    assert extra_pictures(buf.getvalue()) == ExtraPictures()
    assert extra_pictures(b"not a jpeg") == ExtraPictures()
    assert with_extra_pictures(b"not a jpeg", extra_pictures(_phone_mpo())) == b"not a jpeg"
