"""Display orientation: EXIF turns match Pillow's, and video display matrices map to the same turns."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image, ImageOps

from provguard.orientation import from_display, matrix_orientation, to_display


def _png_with_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    image.save(buf, format="PNG", exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_display_turns_match_pillow_and_undo_each_other(orientation: int) -> None:
    pixels = np.random.default_rng(orientation).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    shown = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(_png_with_orientation(pixels, orientation)))))
    assert np.array_equal(to_display(pixels, orientation), shown)
    assert np.array_equal(from_display(shown, orientation), pixels)


def _written_matrix(degrees: int, hflip: bool) -> list[int] | None:
    """The display matrix PyAV writes for a counter-clockwise turn then a mirror, read back from the MP4."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.set_display_rotation(degrees, hflip=hflip)
        out.mux(video.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")))
        out.mux(video.encode(None))
    from provguard.mediaio import display_matrix

    with av.open(io.BytesIO(buf.getvalue())) as container:
        return display_matrix(next(container.decode(video=0)))


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
@pytest.mark.parametrize("hflip", [False, True])
def test_display_matrices_map_to_the_turn_a_player_applies(degrees: int, hflip: bool) -> None:
    """PyAV documents its matrix as a counter-clockwise turn followed by the mirror; the orientation must match."""
    pixels = np.arange(2 * 3).reshape(2, 3, 1)
    shown = np.rot90(pixels, degrees // 90)
    shown = shown[:, ::-1] if hflip else shown
    orientation = matrix_orientation(_written_matrix(degrees, hflip))
    assert np.array_equal(to_display(pixels, orientation), shown)


def test_no_matrix_or_an_unknown_transform_means_no_turn() -> None:
    assert matrix_orientation(None) == 1
    assert matrix_orientation([1, 2, 3]) == 1
    assert matrix_orientation([46341, -46341, 0, 46341, 46341, 0, 0, 0, 1 << 30]) == 1  # 45 degrees: not a turn
