"""Display orientation: the turn a viewer applies to stored pixels (EXIF orientation, or a video's display matrix)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: EXIF orientation -> the turn a viewer applies to stored pixels (rows, columns, channels) to display them.
_TO_DISPLAY: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}
#: The inverse turns: every orientation but 6 and 8 undoes itself.
_FROM_DISPLAY = {**_TO_DISPLAY, 6: _TO_DISPLAY[8], 8: _TO_DISPLAY[6]}

#: Signs of a display matrix's 2x2 part (a, b, c, d = matrix[0], [1], [3], [4]) -> EXIF orientation. A matrix
#: written for a counter-clockwise turn by `degrees` (FFmpeg's av_display_rotation_set, PyAV's
#: set_display_rotation) shows np.rot90(stored, degrees / 90); a horizontal flip after it negates a and c.
_MATRIX_ORIENTATION = {
    (1, 0, 0, 1): 1,
    (0, -1, 1, 0): 8,  # 90 degrees counter-clockwise
    (-1, 0, 0, -1): 3,
    (0, 1, -1, 0): 6,  # 90 degrees clockwise (a phone held upright)
    (-1, 0, 0, 1): 2,  # mirrored
    (0, -1, -1, 0): 7,
    (1, 0, 0, -1): 4,
    (0, 1, 1, 0): 5,
}


def to_display(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Stored pixels turned as a viewer shows them under an EXIF orientation."""
    turn = _TO_DISPLAY.get(orientation)
    return np.ascontiguousarray(turn(pixels)) if turn else pixels


def from_display(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Displayed pixels turned back to the stored layout (the inverse of to_display)."""
    turn = _FROM_DISPLAY.get(orientation)
    return np.ascontiguousarray(turn(pixels)) if turn else pixels


def matrix_orientation(matrix: Sequence[int] | None) -> int:
    """EXIF orientation of a video display matrix (9 ints, 16.16 fixed point); 1 for none or any other transform."""
    if matrix is None or len(matrix) != 9:
        return 1
    signs = tuple(int(np.sign(matrix[i])) for i in (0, 1, 3, 4))
    return _MATRIX_ORIENTATION.get(signs, 1)  # type: ignore[arg-type]
