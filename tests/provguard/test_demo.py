"""Tests for provguard.demo: the end-to-end demo and its media helpers."""

from __future__ import annotations

import numpy as np
import pytest

from provguard.demo import (
    DemoRow,
    encode_image,
    encode_wav,
    flip_media_byte,
    render_table,
    run_demo,
    strip_by_reencoding,
    synthetic_image,
    synthetic_speechlike,
)
from provguard.media import JPEG, PNG, WAV, sniff


@pytest.mark.slow
def test_run_demo_rows_are_all_as_expected(tmp_path) -> None:  # noqa: ANN001
    rows = run_demo(tmp_path / "demo")
    assert rows, "the demo produced no rows"
    assert [r for r in rows if not r.as_expected] == []
    assert {r.variant for r in rows} >= {"signed", "tampered", "stripped"}
    assert {r.state for r in rows} >= {"trusted", "invalid", "absent"}
    written = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert len(written) == len(rows)
    table = render_table(rows)
    assert table.splitlines()[0].split()[:2] == ["sample", "variant"]
    assert "UNEXPECTED" not in table


def test_render_table_flags_unexpected_rows() -> None:
    rows = [DemoRow("a.jpg", "signed", "trusted", "trusted", "-"),
            DemoRow("a.jpg", "tampered", "invalid", "valid", "-")]
    lines = render_table(rows).splitlines()
    assert len(lines) == 4 and set(lines[1]) <= {"-", " "}
    assert lines[2].endswith("ok") and lines[3].endswith("UNEXPECTED")


def test_synthetic_media_is_seeded() -> None:
    assert np.array_equal(synthetic_image(3, (64, 48)), synthetic_image(3, (64, 48)))
    assert not np.array_equal(synthetic_image(3, (64, 48)), synthetic_image(4, (64, 48)))
    assert synthetic_image(0, (64, 48)).shape == (48, 64, 3)
    speech = synthetic_speechlike(1, seconds=0.25)
    assert speech.dtype == np.float32 and speech.shape == (4000,)
    assert np.array_equal(speech, synthetic_speechlike(1, seconds=0.25))


def test_encoders_produce_the_right_kinds() -> None:
    pixels = synthetic_image(0, (64, 48))
    assert sniff(encode_image(pixels, JPEG)) is JPEG
    assert sniff(encode_image(pixels, PNG)) is PNG
    assert sniff(encode_wav(synthetic_speechlike(0, seconds=0.1), 16000)) is WAV


@pytest.mark.parametrize("fmt", ["jpeg", "wav"])
def test_flip_media_byte_changes_exactly_one_bit(media, fmt: str) -> None:  # noqa: ANN001
    data = media(fmt)
    flipped = flip_media_byte(data)
    diffs = [i for i, (a, b) in enumerate(zip(data, flipped, strict=True)) if a != b]
    assert len(diffs) == 1
    assert bin(data[diffs[0]] ^ flipped[diffs[0]]).count("1") == 1


def test_flipped_jpeg_bit_garbles_only_the_bottom_of_the_picture(media) -> None:  # noqa: ANN001
    import io

    from PIL import Image

    data = media("jpeg")
    before = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)
    after = np.asarray(Image.open(io.BytesIO(flip_media_byte(data))).convert("RGB"), dtype=np.int16)
    changed_rows = np.flatnonzero(np.abs(after - before).max(axis=(1, 2)) > 0)
    assert changed_rows.size, "the flipped bit changed no pixel"
    assert changed_rows.min() >= before.shape[0] * 2 // 3


def test_flip_media_byte_refuses_other_kinds(media) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="JPEG and WAV"):
        flip_media_byte(media("png"))


@pytest.mark.parametrize("fmt", ["jpeg", "png", "wav"])
def test_strip_by_reencoding_keeps_the_kind(media, fmt: str) -> None:  # noqa: ANN001
    data = media(fmt)
    stripped = strip_by_reencoding(data)
    assert sniff(stripped) is sniff(data)
    with pytest.raises(ValueError):
        strip_by_reencoding(media("mp4"))
