"""Frequency representations of image patches: a grid of patches, per-channel log-|DCT|, azimuthal spectra."""

from __future__ import annotations

import numpy as np

#: Side of the square patches every image detector scores (pixels).
PATCH = 64
#: Most patches scored per image: a grid of at most GRID x GRID cells, one patch at the centre of each.
GRID = 6
#: Added before the log so that zero coefficients stay finite.
LOG_EPS = 1e-3
#: ITU-R BT.601 luma weights.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def grid_cells(height: int, width: int, *, patch: int = PATCH, grid: int = GRID) -> list[tuple[int, int, int, int]]:
    """Cells (x, y, w, h) tiling the image in at most grid x grid parts, each at least one patch wide."""
    nx = max(1, min(grid, width // patch))
    ny = max(1, min(grid, height // patch))
    xs = np.linspace(0, width, nx + 1).round().astype(int)
    ys = np.linspace(0, height, ny + 1).round().astype(int)
    return [(int(xs[i]), int(ys[j]), int(xs[i + 1] - xs[i]), int(ys[j + 1] - ys[j])) for j in range(ny) for i in range(nx)]


def patch_origin(cell: tuple[int, int, int, int], *, patch: int = PATCH) -> tuple[int, int]:
    """Top-left corner of the patch centred in a cell."""
    x, y, w, h = cell
    return x + (w - patch) // 2, y + (h - patch) // 2


def grid_patches(pixels: np.ndarray, *, patch: int = PATCH, grid: int = GRID) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Patches (N, patch, patch, 3) uint8 centred in the grid cells, and the cells."""
    cells = grid_cells(pixels.shape[0], pixels.shape[1], patch=patch, grid=grid)
    out = np.empty((len(cells), patch, patch, pixels.shape[2]), dtype=pixels.dtype)
    for k, cell in enumerate(cells):
        x0, y0 = patch_origin(cell, patch=patch)
        out[k] = pixels[y0 : y0 + patch, x0 : x0 + patch]
    return out, cells


def random_patches(pixels: np.ndarray, n: int, rng: np.random.Generator, *, patch: int = PATCH) -> np.ndarray:
    """n patches (n, patch, patch, 3) at uniformly random positions (any pixel phase)."""
    h, w = pixels.shape[:2]
    ys = rng.integers(0, h - patch + 1, size=n)
    xs = rng.integers(0, w - patch + 1, size=n)
    return np.stack([pixels[y : y + patch, x : x + patch] for y, x in zip(ys, xs)])


def log_dct(patches: np.ndarray) -> np.ndarray:
    """Per-channel log-magnitude 2-D DCT-II (orthonormal): (N, p, p, C) uint8 -> (N, C, p, p) float32."""
    from scipy.fft import dctn

    x = patches.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    coeffs = dctn(x, type=2, axes=(2, 3), norm="ortho", workers=1)
    return np.log(np.abs(coeffs) + LOG_EPS).astype(np.float32)


def luma(patches: np.ndarray) -> np.ndarray:
    """Luma (N, p, p) float32 in [0, 1] from (N, p, p, 3) uint8."""
    return (patches.astype(np.float32) @ LUMA) / 255.0


def luma_log_dct(patches: np.ndarray) -> np.ndarray:
    """Log-magnitude DCT of the luma, flattened: (N, p*p) float32 (the Frank et al. 2020 feature)."""
    from scipy.fft import dctn

    coeffs = dctn(luma(patches), type=2, axes=(1, 2), norm="ortho", workers=1)
    return np.log(np.abs(coeffs) + LOG_EPS).reshape(len(patches), -1).astype(np.float32)


def _radius_index(size: int) -> tuple[np.ndarray, int]:
    """Integer radius of every (centred) FFT bin, and the number of radii."""
    c = size // 2
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - c, xx - c).round().astype(int)
    return r, int(r.max()) + 1


def azimuthal_spectrum(patches: np.ndarray) -> np.ndarray:
    """Azimuthally averaged log power spectrum of the luma: (N, n_radii) float32 (the Durall et al. 2020 feature)."""
    g = luma(patches)
    g = g - g.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fftshift(np.fft.fft2(g), axes=(1, 2))) ** 2
    logp = np.log(power + 1e-8).reshape(len(patches), -1)
    r, n = _radius_index(patches.shape[1])
    counts = np.bincount(r.ravel(), minlength=n).astype(np.float32)
    sums = np.stack([np.bincount(r.ravel(), weights=row, minlength=n) for row in logp])
    return (sums / counts).astype(np.float32)
