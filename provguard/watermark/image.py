"""Image watermark: a keyed, tiled, host-aware spread-spectrum pattern in luminance that re-synchronises itself.

Embedding: the image is divided into a grid of chips whose size is a fixed fraction of the short side
(``CHIPS_PER_SHORT_SIDE`` across it), so a later resize keeps the grid. A ``TILE`` x ``TILE`` tile of chips (a keyed
sync pattern on ``SYNC_CHIPS`` of them, the ``CODED_BITS`` channel bits of PayloadCodec spread over the others with
keyed signs) repeats over the whole image, is interpolated bilinearly to pixels and added to R, G and B alike.
Amplitudes are shaped twice: per chip by a perceptual mask that predicts SSIM's loss from each chip's mean and
variance (flat and dark areas get less), and per coded bit by informed embedding: the detector's readout of the
unmarked image is computed at embedding time, and each bit gets the amplitude that lifts it over that host
interference (bits too costly to save are left to the error-correcting code; on busy texture, where the host
outweighs the whole budget, the costliest bits are given up until the rest keep a margin). The RMS change is capped
at ``strength`` grey levels (PSNR >= 40.1 dB at the default) and lowered further when SSIM would fall.

Detection: luma is resampled to 2 pixels per nominal chip, high-passed, contrast-normalised and whitened (each
frequency divided by the image's own smoothed magnitude there; the embedder predicts that filter), and all tiles are
averaged into one (folded) at the nominal geometry; a circular correlation with the sync pattern gives the tile
offset. When the sync is weak (rotation, crop, rescale), geometry candidates come from two searches: a coarse
coherent one (every pure rescale and every pure rotation on a grid, folded at one pixel per chip and correlated with
the sync, which finds weak marks) and one on the whitened autocorrelation (the tiling's lattice peaks, any mix of
scale and rotation). The candidates are folded at full resolution and tested against the sync, and the winner is
polished by parabola fits of the sync z-score along scale and angle (where that peak is weak, its neighbours are
decoded too). The chips are read at the sub-pixel offset
(soft values clipped at a multiple of their median magnitude, so that given-up bits, read strongly wrong, weigh
little) and decoded by PayloadCodec for the nominal and the searched geometry; the better decoding wins. Every
choice before decoding (geometry, turn, tile offset) is made by the sync chips alone, which are disjoint from the
payload chips, so the p-value is a Bonferroni bound over the readings decoded (max_decodings()), not over the
geometries searched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageMath
from scipy import fft as sfft
from scipy import ndimage

from provguard.errors import ImageTooSmallError, WatermarkError
from provguard.watermark.payload import (
    DEFAULT_FPR,
    PayloadCodec,
    PayloadDecision,
    keyed_bits,
    keyed_permutation,
)

#: Smallest short side (pixels) accepted for embedding and detection.
MIN_SIDE = 256
#: Chips across the image's short side (the grid scales with the image).
CHIPS_PER_SHORT_SIDE = 160
#: Tile side in chips; the tile repeats over the image.
TILE = 32
#: Chips of each tile given to the sync pattern.
SYNC_CHIPS = 128
#: Coded channel bits carried by one tile.
CODED_BITS = 384
#: Default RMS change of luminance, in grey levels (PSNR about 40.2 dB before clipping).
DEFAULT_STRENGTH = 2.5
#: Fresh payloads embed_image_best may try on one picture, the share of coded bits read wrong from the untouched mark
#: up to which the first one is kept without trying another (photographs: almost always none wrong), and the largest
#: picture (pixels) it tries more than one on (each try costs an embedding and a read-back).
PAYLOAD_TRIES = 4
GOOD_READBACK_SHARE = 0.02
CHOOSE_MAX_PIXELS = 16_000_000
#: Largest tile scale change (either way) and rotation (degrees) the detector searches.
MAX_SCALE_CHANGE = 1.3
MAX_ROTATION_DEG = 8.0
#: Tiling-vector pairs (besides the nominal one) the detector folds and tests against the sync pattern.
GEOMETRY_CANDIDATES = 6
#: Coordinate search that polishes the chosen geometry: rounds of (relative scale, degrees) moves.
_REFINE_STEPS = (
    ((-0.006, 0.0), (-0.003, 0.0), (0.003, 0.0), (0.006, 0.0)),
    ((0.0, -0.15), (0.0, -0.075), (0.0, 0.075), (0.0, 0.15)),
    ((-0.0015, 0.0), (0.0015, 0.0)),
)
#: Neighbours of the polished geometry (relative scale, degrees) that are decoded too; the best decoding wins. The
#: sync tiles alone place a weak mark only to about these steps, and the payload is more sensitive than the sync.
_DECODE_NEIGHBOURS = tuple((ds, dt) for ds in (-0.0015, 0.0, 0.0015) for dt in (-0.1, 0.0, 0.1) if ds or dt)
_NEIGHBOURS_MIN_Z = 5.5  # polished sync z-score from which the neighbours are decoded too
_SYNC_SURE = 8.0  # sync z-score at the nominal geometry above which no geometry search is made
#: Coarse coherent search (at one working pixel per chip, fold origin at the image centre): pure rescales and pure
#: rotations, the commonest geometric edits, each hypothesis folded and correlated with the sync pattern.
_COARSE_SCALE_STEP = 0.006  # log-scale step
_COARSE_ANGLE_STEP = 0.35  # degrees
_COARSE_KEEP = 3  # best coarse hypotheses tested at full resolution
_ACF_SMOOTH = 7  # bins over which the power spectrum is smoothed for whitening
_SCALE_STEP = 0.004  # log-scale step of the coarse geometry grid
_ANGLE_STEP = 0.2  # degrees
#: Lattice points (in tile units along v_col, v_row) whose autocorrelation peaks are summed, one of each +- pair.
_LATTICE_POINTS = ((1, 0), (0, 1), (1, 1), (1, -1), (2, 0), (0, 2), (2, 1), (1, 2), (2, -1), (1, -2))

_WP = 2  # working pixels per nominal chip
_HP_SIGMA = 1.5  # the detail high-pass (working pixels)
_NORM_SIGMA = 3.0  # window of the local contrast normalisation
_NORM_FLOOR = 2.0  # grey levels added to the local detail level before dividing
_WHITEN_SMOOTH = 9  # spectrum bins over which the plane's power is averaged before whitening
_MASK_MIN, _MASK_MAX = 0.25, 3.0  # perceptual mask range (relative to its RMS)
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2  # SSIM's constants
_SSIM_LOSS = 0.02  # predicted 1 - SSIM allowed
_SSIM_CALIBRATION = 0.7  # measured 1 - SSIM over the model's prediction (0.65 +- 0.09 on 38 photos)
_DAMPING = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
_KAPPA = 4.0 / 9.0  # mean square of a bilinear interpolation of independent +-1 chips
_AMP_MIN, _AMP_MAX = 0.3, 3.0  # informed embedding: payload chip amplitude range, relative to uniform
_SOFT_CLIP = 1.5  # soft bits are clipped to this many times their median magnitude before decoding
_ISS_ITERS, _ISS_STEP, _ISS_MARGINS = 5, 0.8, 12
#: Predicted share of coded bits read right (unattacked) below which informed embedding gives bits up to fit the
#: budget, and the share the chosen margin must keep when it does (the code corrects the rest; its soft clip bounds
#: what a given-up bit, read strongly wrong, can weigh).
_ISS_ACCURACY_OK, _ISS_ACCURACY_MIN = 0.95, 0.85
_GIVE_UP_ROUNDS, _GIVE_UP_ITERS = 3, 2
_TP = TILE * _WP  # tile period in working pixels
_STRIP_PIXELS = 1 << 15  # pixels per strip of _add_saturating (at most 98 KB of temporaries, for RGB)
#: Turning the image back by the found rotation (see _registered_readings): the smallest rotation (degrees) and
#: the range of polished sync z-scores where it is tried (weaker is chance, stronger reads well as it is), the
#: turned-back sync z-score from which the angle is scanned (the textures of the bench, marked: >= 5.3 at the
#: polished angle; unmarked photos: <= 4.6), the scan's steps (degrees) around the polished angle and then around
#: the best, how many turned-back folds are decoded, and the sync offsets (working pixels) each is read at.
_REGISTER_MIN_DEG = 0.3
_REGISTER_MIN_Z = 4.3
_REGISTER_GO_Z = 4.9
_REGISTER_SCAN = (-0.45, -0.3, -0.15, 0.15, 0.3, 0.45)
_REGISTER_FINE = (-0.075, 0.075)
_REGISTER_DECODE = 2
_REGISTER_SCALE_TOL = 0.01
_OFFSET_NEIGHBOURS = ((0.0, 0.0), (-0.25, 0.0), (0.25, 0.0), (0.0, -0.25), (0.0, 0.25))


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) < 16:
        raise WatermarkError("the watermark key must be at least 16 bytes")
    return bytes(key)


def _as_image(pixels: np.ndarray) -> np.ndarray:
    """Validate an 8-bit grey (HxW) or RGB (HxWx3) array."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise WatermarkError(f"expected uint8 pixels, got {arr.dtype}")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise WatermarkError(f"expected an HxW or HxWx3 image, got shape {arr.shape}")
    short = min(arr.shape[:2])
    if short < MIN_SIDE:
        raise ImageTooSmallError(
            f"image is {arr.shape[1]}x{arr.shape[0]} pixels; the watermark needs a short side of at least {MIN_SIDE}"
        )
    return np.ascontiguousarray(arr)


def _luma(arr: np.ndarray) -> Image.Image:
    """Luma (ITU-R 601) as a float PIL image."""
    return Image.fromarray(arr).convert("F")


@lru_cache(maxsize=16)
def _layout(key: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, PayloadCodec]:
    """Keyed tile layout: sync positions and signs, payload chip -> bit map and chip signs, and the codec."""
    n_chips = TILE * TILE
    order = keyed_permutation(key, b"image/chips", n_chips)
    sync_idx = np.sort(order[:SYNC_CHIPS])
    payload_idx = order[SYNC_CHIPS:]
    sync_val = keyed_bits(key, b"image/sync", SYNC_CHIPS).astype(np.float32) * 2 - 1
    chip_bit = np.arange(payload_idx.size) % CODED_BITS  # each coded bit gets the same number of chips
    chip_sign = keyed_bits(key, b"image/signs", payload_idx.size).astype(np.float32) * 2 - 1
    sync = np.zeros(n_chips, np.float32)
    sync[sync_idx] = sync_val
    return sync.reshape(TILE, TILE), payload_idx, chip_bit, chip_sign, PayloadCodec(key, CODED_BITS)


def _interp_1d(n_px: int, chip: float, n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower grid index (grid row 0 = chip -1) and weight for bilinear chip -> pixel interpolation."""
    pos = (np.arange(n_px, dtype=np.float64) + 0.5) / chip - 0.5 + 1.0
    lo = np.clip(np.floor(pos).astype(np.int64), 0, n_grid - 2)
    return lo, (pos - lo).astype(np.float32)


def _resize_f(plane: np.ndarray | Image.Image, width: int, height: int) -> np.ndarray:
    """Antialiased resize of a float plane with PIL."""
    img = plane if isinstance(plane, Image.Image) else Image.fromarray(np.ascontiguousarray(plane, np.float32), "F")
    return np.asarray(img.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=1.0), dtype=np.float32)


def _work_size(h: int, w: int) -> tuple[int, int]:
    """Working-plane size: _WP pixels per nominal chip."""
    scale = _WP * CHIPS_PER_SHORT_SIDE / min(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


class _Analysis(NamedTuple):
    """The detector's view of an image, and what the embedder needs to predict that view."""

    plane: np.ndarray  # high-passed, contrast-normalised and whitened luma at the working scale
    local: np.ndarray  # local detail level (grey levels) the high-passed luma was divided by
    luma: np.ndarray  # luma at the working scale
    whitening: np.ndarray  # the whitening filter sampled on the tile's frequencies (rfft2 layout)


def _analyse(luma: Image.Image) -> _Analysis:
    """Working plane as the detector sees it, with its local detail level, raw luma and whitening filter."""
    hw, ww = _work_size(luma.height, luma.width)
    plane = _resize_f(luma, ww, hw)
    white, local, whitening = _analyse_plane(plane)
    return _Analysis(white, local, plane, whitening)


def _analyse_plane(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """High-pass, contrast-normalise and whiten a working-scale luma plane: (plane, local detail level, whitening)."""
    detail = plane - ndimage.gaussian_filter(plane, _HP_SIGMA, mode="nearest")
    local = np.sqrt(ndimage.gaussian_filter(detail * detail, _NORM_SIGMA, mode="nearest"))
    white, whitening = _whiten(detail / (local + _NORM_FLOOR))
    return white, local, whitening


def _whiten(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten the plane's spectrum, scaled to unit variance; also the filter on the tile's frequencies.

    Brick, foliage, fabric or hatching put the host's power into a few frequencies, where it drowns the mark's
    share; dividing each frequency by the host's smoothed magnitude leaves the mark, which is spread evenly over
    its band, standing out from a flat floor (a matched filter for a coloured host). The filter is estimated on the
    image at hand: at embedding time on the original, at detection on whatever copy was received.
    """
    h, w = plane.shape
    fh, fw = sfft.next_fast_len(h, real=True), sfft.next_fast_len(w, real=True)  # zero-padded: the plane's mean is 0
    spectrum = sfft.rfft2(plane, (fh, fw), workers=1)
    power = spectrum.real**2 + spectrum.imag**2
    smooth = ndimage.uniform_filter(power, _WHITEN_SMOOTH, mode=("wrap", "nearest"))
    response = 1.0 / np.sqrt(smooth + 1e-3 * float(smooth.mean()) + 1e-12)
    white = sfft.irfft2(spectrum * response, (fh, fw), workers=1)[:h, :w]
    scale = float(white.std()) or 1.0
    rows = np.round(np.fft.fftfreq(_TP) * fh).astype(np.int64) % fh
    cols = np.minimum(np.round(np.fft.rfftfreq(_TP) * fw).astype(np.int64), response.shape[1] - 1)
    on_tile = response[rows[:, None], cols[None, :]] / scale
    return (white / scale).astype(np.float32), on_tile.astype(np.float32)


def _fold_nominal(plane: np.ndarray) -> np.ndarray:
    """Average of all tiles at the nominal geometry (tile period _TP working pixels, origin at 0).

    Whole tiles are summed by a reshape and the partial ones at the right and bottom edges on their own: no padded
    copy of the plane is made (a fresh megabyte costs more in page faults than the sum).
    """
    h, w = plane.shape
    fh, fw = h // _TP * _TP, w // _TP * _TP  # the part made of whole tiles
    acc = np.zeros((_TP, _TP), np.float64)
    if fh and fw:
        acc += plane[:fh, :fw].reshape(fh // _TP, _TP, fw // _TP, _TP).sum(axis=(0, 2), dtype=np.float64)
    if fw < w:  # the right edge's partial tiles, over the whole-tile rows and then the last partial row
        if fh:
            acc[:, : w - fw] += plane[:fh, fw:].reshape(fh // _TP, _TP, w - fw).sum(axis=0, dtype=np.float64)
        acc[: h - fh, : w - fw] += plane[fh:, fw:]
    if fh < h and fw:  # the bottom edge's partial tiles
        acc[: h - fh] += plane[fh:, :fw].reshape(h - fh, fw // _TP, _TP).sum(axis=1, dtype=np.float64)
    rows = (h - np.arange(_TP) + _TP - 1) // _TP
    cols = (w - np.arange(_TP) + _TP - 1) // _TP
    return acc / np.maximum(np.outer(rows, cols), 1)


@lru_cache(maxsize=1)
def _highpass_response() -> np.ndarray:
    """Frequency response of the detector's high-pass on a periodic tile."""
    fy, fx = np.fft.fftfreq(_TP), np.fft.rfftfreq(_TP)
    gy, gx = (np.exp(-2 * np.pi**2 * _HP_SIGMA**2 * f**2) for f in (fy, fx))
    return 1.0 - np.outer(gy, gx)


@lru_cache(maxsize=1)
def _readout_operators() -> tuple[np.ndarray, np.ndarray]:
    """The upsampler and the high-pass response in float32 (ample for grey levels, and twice as fast)."""
    return _upsampler().astype(np.float32), _highpass_response().astype(np.float32)


def _readout_model(u: np.ndarray, gain: np.ndarray, whitening: np.ndarray) -> np.ndarray:
    """Chip readout that tile amplitudes u (TILE x TILE, grey levels) produce at the detector."""
    um, highpass = _readout_operators()
    x = um @ np.asarray(u, np.float32) @ um.T
    y = sfft.irfft2(sfft.rfft2(x, workers=1) * highpass, (_TP, _TP), workers=1)
    y = sfft.irfft2(sfft.rfft2(np.asarray(gain, np.float32) * y, workers=1) * whitening, (_TP, _TP), workers=1)
    return um.T @ y @ um  # works on a batch (..., TILE, TILE) too


def _to_chips(plane: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """Average a working-resolution plane over each chip (2x2 working pixels)."""
    h, w = plane.shape
    if h < 2 * n_rows or w < 2 * n_cols:
        plane = np.pad(plane, ((0, max(0, 2 * n_rows - h)), (0, max(0, 2 * n_cols - w))), mode="edge")
    p = plane[: 2 * n_rows, : 2 * n_cols]
    return (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]) * 0.25


@lru_cache(maxsize=64)
def _window_variance_share(chip_tenths: int) -> float:
    """Share of the mark's power that shows as variance inside SSIM's 1.5-pixel Gaussian window."""
    chip = chip_tenths / 10.0
    n_px = int(24 * chip)
    grid = np.where(np.arange(26 * 26).reshape(26, 26) * 2654435761 % 7 < 4, 1.0, -1.0)  # fixed +-1 pattern
    lo, f = _interp_1d(n_px, chip, 26)
    rows = grid[lo] * (1 - f)[:, None] + grid[lo + 1] * f[:, None]
    x = rows[:, lo] * (1 - f) + rows[:, lo + 1] * f
    x -= x.mean()
    mean = ndimage.gaussian_filter(x, 1.5, truncate=3.5, mode="wrap")
    var = ndimage.gaussian_filter(x * x, 1.5, truncate=3.5, mode="wrap") - mean * mean
    return float(var.mean() / (x * x).mean())


def _chip_mask(
    luma_w: np.ndarray, luma_sq_w: np.ndarray, n_rows: int, n_cols: int, chip: float, strength: float
) -> tuple[np.ndarray, float]:
    """Per-chip amplitude weights (mean square 1) and the strength that keeps the SSIM loss within budget.

    The amplitude is damped where SSIM is most sensitive to it (its contrast-structure term in flat areas, its
    luminance term in dark areas, as predicted from each chip's mean and variance); the damping grows until the
    predicted loss fits _SSIM_LOSS, after which the strength itself is lowered.
    """
    mean = _to_chips(luma_w, n_rows, n_cols)
    fine_var = np.maximum(_to_chips(luma_sq_w, n_rows, n_cols) - mean**2, 0.0)  # variance inside each chip
    rho = _window_variance_share(max(10, round(chip * 10)))
    sens = rho / (2 * fine_var + _C2) + (1 - rho) / (2 * mean**2 + _C1)
    relative = sens / float(np.mean(sens))
    for damping in _DAMPING:
        mask = 1.0 / (1.0 + damping * relative)
        mask /= math.sqrt(float(np.mean(mask**2)))
        mask = np.clip(mask, _MASK_MIN, _MASK_MAX)
        mask /= math.sqrt(float(np.mean(mask**2)))
        loss = _SSIM_CALIBRATION * strength**2 * float(np.mean(mask**2 * sens))
        if loss <= _SSIM_LOSS:
            break
    return mask, strength * min(1.0, math.sqrt(_SSIM_LOSS / loss))


class _BitReadout:
    """The detector's predicted readout of every coded bit for a batch of candidate tiles, at embedding time."""

    def __init__(
        self, key: bytes, payload: int, host: np.ndarray, gain: np.ndarray, whitening: np.ndarray, n_batch: int
    ) -> None:
        _, self.payload_idx, self.chip_bit, self.chip_sign, codec = _layout(key)
        self.bit_sign = codec.encode(payload).astype(np.float64) * 2 - 1
        self.direction = self.bit_sign[self.chip_bit] * self.chip_sign  # +-1: the sign each payload chip should read
        self.host_bit = np.bincount(
            self.chip_bit, weights=host.reshape(-1)[self.payload_idx] * self.chip_sign, minlength=CODED_BITS
        )
        self.gain, self.whitening = gain, whitening
        # chip -> coded bit as a sparse sum over the whole batch, done with one bincount
        self._batch_bits = (self.chip_bit[None, :] + CODED_BITS * np.arange(n_batch)[:, None]).ravel()

    def per_bit(self, chip_values: np.ndarray) -> np.ndarray:
        """Sum payload-chip values (n x payload chips, n <= n_batch) into their coded bits (n x CODED_BITS)."""
        n = chip_values.shape[0]
        out = np.bincount(self._batch_bits[: chip_values.size], weights=chip_values.ravel(), minlength=CODED_BITS * n)
        return out.reshape(n, CODED_BITS)

    def margins(self, u: np.ndarray) -> np.ndarray:
        """Each bit's readout, host included, in the direction it should read (n x CODED_BITS for n tiles)."""
        read = _readout_model(u.reshape(-1, TILE, TILE), self.gain, self.whitening)
        read = read.reshape(u.shape[0], -1)[:, self.payload_idx]
        return self.bit_sign * (self.host_bit + self.per_bit(read * self.chip_sign))

    def relevel(self, u: np.ndarray, amp: np.ndarray, taus: np.ndarray, per_bit_gain: np.ndarray) -> np.ndarray:
        """One informed-embedding step: payload amplitudes moved toward each tile's margin (u's chips are set)."""
        u[:, self.payload_idx] = amp * self.direction
        need = taus - self.margins(u)
        return amp + _ISS_STEP * (need / per_bit_gain)[:, self.chip_bit]


def _informed_amplitudes(
    key: bytes,
    payload: int,
    host: np.ndarray,
    gain: np.ndarray,
    whitening: np.ndarray,
    weight: np.ndarray,
    strength: float,
) -> np.ndarray:
    """Tile amplitudes giving every coded bit a margin over the host's own readout, within the energy budget.

    Informed (host-aware) spread spectrum: the detector's readout of the unmarked image is known at embedding time,
    so each bit's chips get just the amplitude that lifts its readout to a common margin; bits that would cost more
    than _AMP_MAX are left at _AMP_MIN for the error-correcting code. The largest margin that fits the budget wins
    (margins are tried as a batch). Where the host outweighs the budget (busy texture everywhere), that rule leaves
    too many bits wrong, and the costliest bits are given up instead until each margin fits (_give_up_to_fit).
    """
    sync, payload_idx, chip_bit, _, _ = _layout(key)
    weight = weight.reshape(-1)
    u0 = strength / math.sqrt(_KAPPA * weight.sum())  # uniform amplitude that meets the budget
    sync_u = sync.reshape(-1) * u0
    budget = strength**2 / _KAPPA - float(np.sum(weight * sync_u**2))  # left for the payload chips
    um = _upsampler()
    local_gain = (um.T @ gain @ um) / (um.T @ np.ones_like(gain) @ um)
    diag = (_readout_model(_unit_impulse(), np.ones_like(gain), whitening)[0, 0] * local_gain).reshape(-1)
    per_bit_gain = np.bincount(chip_bit, weights=diag[payload_idx], minlength=CODED_BITS)
    taus = np.linspace(0.0, float(np.median(per_bit_gain)) * u0 * _AMP_MAX, _ISS_MARGINS)[:, None]
    readout = _BitReadout(key, payload, host, gain, whitening, taus.size)
    a_min, a_max = _AMP_MIN * u0, _AMP_MAX * u0
    amp = np.full((taus.size, payload_idx.size), u0)
    u = np.tile(sync_u, (taus.size, 1))
    for _ in range(_ISS_ITERS):
        amp = readout.relevel(u, amp, taus, per_bit_gain)
        amp = np.where(amp > a_max, a_min, np.maximum(amp, a_min))  # a bit too costly to save is given up
    u[:, payload_idx] = amp * readout.direction
    energy = (u[:, payload_idx] ** 2) @ weight[payload_idx]
    fits = np.nonzero(energy <= budget)[0]
    if fits.size:
        best = u[fits[-1]].copy()
        if float(np.mean(readout.margins(best[None]) > 0)) >= _ISS_ACCURACY_OK:
            return best.reshape(TILE, TILE)
    u = _give_up_to_fit(readout, u, amp, taus, weight, budget, per_bit_gain, a_min)
    accuracy = np.mean(readout.margins(u) > 0, axis=1)
    good = np.nonzero(accuracy >= _ISS_ACCURACY_MIN)[0]
    best = u[good[-1] if good.size else int(np.argmax(accuracy))].copy()
    energy_best = float((best[payload_idx] ** 2) @ weight[payload_idx])
    if energy_best > budget:  # the last correction overshot a little
        best[payload_idx] *= math.sqrt(max(budget, 0.0) / energy_best)
    return best.reshape(TILE, TILE)


def _give_up_to_fit(
    readout: _BitReadout,
    u: np.ndarray,
    amp: np.ndarray,
    taus: np.ndarray,
    weight: np.ndarray,
    budget: float,
    per_bit_gain: np.ndarray,
    a_min: float,
) -> np.ndarray:
    """For every margin of the batch, give up the costliest bits until the rest fits the budget (water-filling).

    Each round gives up, per margin, the bits whose energy would pay for the excess, then re-levels the kept bits
    (their readouts interact through the detector's filters) with the given-up ones held at the floor amplitude.
    """
    payload_idx, chip_bit = readout.payload_idx, readout.chip_bit
    w_pay = weight[payload_idx]
    floor_cost = a_min**2 * np.bincount(chip_bit, weights=w_pay, minlength=CODED_BITS)
    given_up = np.zeros((taus.size, CODED_BITS), bool)
    for _ in range(_GIVE_UP_ROUNDS):
        cost = readout.per_bit(amp**2 * w_pay)
        excess = cost.sum(axis=1) - budget
        saving = np.where(given_up, 0.0, cost - floor_cost)
        order = np.argsort(-saving, axis=1)
        cumulative = np.cumsum(np.take_along_axis(saving, order, axis=1), axis=1)
        n_drop = np.where(excess > 0, (cumulative < excess[:, None]).sum(axis=1) + 1, 0)
        dropped = np.zeros_like(given_up)
        np.put_along_axis(dropped, order, np.arange(CODED_BITS)[None, :] < n_drop[:, None], axis=1)
        given_up |= dropped
        held = given_up[:, chip_bit]
        amp = np.where(held, a_min, amp)
        for _ in range(_GIVE_UP_ITERS):
            amp = np.where(held, a_min, np.maximum(readout.relevel(u, amp, taus, per_bit_gain), a_min))
    u[:, payload_idx] = amp * readout.direction
    return u


@lru_cache(maxsize=1)
def _unit_impulse() -> np.ndarray:
    e = np.zeros((TILE, TILE))
    e[0, 0] = 1.0
    return e


def embed_image(pixels: np.ndarray, payload: int, key: bytes, strength: float | None = None) -> np.ndarray:
    """Return a copy of a uint8 HxW(x3) image carrying the 64-bit payload under the key."""
    key = _check_key(key)
    arr = _as_image(pixels)
    strength = DEFAULT_STRENGTH if strength is None else float(strength)
    if not 0 < strength <= 50:
        raise WatermarkError("strength must be in (0, 50] grey levels")
    PayloadCodec.check_payload(payload)
    h, w = arr.shape[:2]
    image = Image.fromarray(arr)
    luma = image.convert("F")
    chip = min(h, w) / CHIPS_PER_SHORT_SIDE
    n_rows, n_cols = math.ceil(h / chip), math.ceil(w / chip)
    plane, local, luma_w, whitening = _analyse(luma)
    luma_sq = ImageMath.lambda_eval(lambda env: env["l"] * env["l"], l=luma)
    luma_sq_w = _resize_f(luma_sq, plane.shape[1], plane.shape[0])
    mask, strength = _chip_mask(luma_w, luma_sq_w, n_rows, n_cols, chip, strength)
    hw, ww = plane.shape
    mask_w = np.repeat(np.repeat(mask, 2, axis=0), 2, axis=1)[:hw, :ww]
    um = _upsampler()
    host = um.T @ _fold_nominal(plane) @ um
    gain = _fold_nominal(mask_w / (local + _NORM_FLOOR))
    cell = ((np.arange(n_rows)[:, None] % TILE) * TILE + np.arange(n_cols)[None, :] % TILE).ravel()
    weight = np.bincount(cell, weights=(mask**2).ravel(), minlength=TILE * TILE).reshape(TILE, TILE)
    weight /= n_rows * n_cols
    tile = _informed_amplitudes(key, int(payload), host, gain, whitening, weight, strength)
    grid = tile[(np.arange(-1, n_rows + 1) % TILE)[:, None], (np.arange(-1, n_cols + 1) % TILE)[None, :]]
    grid = grid * np.pad(mask, 1, mode="edge")
    rms = _interpolated_rms(grid)
    scale = min(1.0, strength / rms) if rms > 0 else 0.0
    # Bilinear chip -> pixel interpolation (grid index g is chip g - 1; chip i is centred on pixel (i + 0.5) * chip),
    # offset by 128.5 so that PIL's float -> 8-bit conversion rounds to the step + 128.
    offset = np.ascontiguousarray(grid * scale + 128.5, dtype=np.float32)
    box = (1.0, 1.0, 1.0 + w / chip, 1.0 + h / chip)
    step = np.asarray(Image.fromarray(offset, "F").resize((w, h), Image.Resampling.BILINEAR, box=box).convert("L"))
    return _add_saturating(arr, step)


def _add_saturating(arr: np.ndarray, step: np.ndarray) -> np.ndarray:
    """A new uint8 array: every channel of arr plus (step - 128), clipped to 0-255, in 8-bit arithmetic only.

    The work goes in strips of _STRIP_PIXELS, whose temporaries stay in cache and below the allocator's mmap
    threshold: whole-image temporaries (or a PIL merge of the step over the channels) cost more in page faults
    than in arithmetic. The step is compared with an array of 128s: numpy's uint8 max/min against a scalar is
    many times slower.
    """
    out = np.empty_like(arr)
    rows = max(1, _STRIP_PIXELS // arr.shape[1])
    channels = arr.shape[2] if arr.ndim == 3 else 0
    mid = np.zeros(0, np.uint8)
    for r in range(0, arr.shape[0], rows):
        s = step[r : r + rows]
        if channels:  # repeated over the channels: numpy broadcasting over a short last axis is slow
            s = np.stack((s,) * channels, axis=-1)
        if mid.shape != s.shape:
            mid = np.full_like(s, 128)
        up = np.maximum(s, mid)  # the step's positive part (+128)
        up -= mid
        down = np.minimum(s, mid)
        np.subtract(mid, down, out=down)  # and its negative part
        o = out[r : r + rows]
        np.subtract(np.uint8(255), up, out=o)  # pixels above this would wrap around when raised
        np.minimum(arr[r : r + rows], o, out=o)
        o += up
        np.maximum(o, down, out=o)
        o -= down
    return out


def _interpolated_rms(grid: np.ndarray) -> float:
    """RMS of the bilinear interpolation of a chip grid (1-D: mean of ((1-t)a + tb)^2 is (a^2 + ab + b^2) / 3)."""
    k = np.array([1 / 6, 2 / 3, 1 / 6])
    smooth = ndimage.correlate1d(ndimage.correlate1d(grid, k, axis=0, mode="nearest"), k, axis=1, mode="nearest")
    return math.sqrt(max(float(np.mean(grid[1:-1, 1:-1] * smooth[1:-1, 1:-1])), 0.0))


def _autocorrelation(plane: np.ndarray, reach: int) -> np.ndarray:
    """Spectrally whitened autocorrelation of the plane for lags in [-reach, reach]^2, trend removed."""
    h, w = plane.shape
    shape = (sfft.next_fast_len(h + reach), sfft.next_fast_len(w + reach, real=True))
    spec = sfft.rfft2(plane, shape, workers=1)
    power = spec.real**2 + spec.imag**2
    weighted = power / (ndimage.uniform_filter(power, _ACF_SMOOTH, mode="wrap") + 1e-12)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    weighted *= (np.sinc(_WP * fy) * np.sinc(_WP * fx)) ** 4  # the chips' own band
    acf = sfft.irfft2(weighted, shape, workers=1)
    acf = np.roll(acf, (reach, reach), axis=(0, 1))[: 2 * reach + 1, : 2 * reach + 1]
    return acf - ndimage.uniform_filter(acf, 9, mode="nearest")


def _lattice_score(acf: np.ndarray, reach: int, scale: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Sum of the autocorrelation over the lattice points of every (scale, rotation) hypothesis."""
    cos, sin = np.cos(theta) * scale * _TP, np.sin(theta) * scale * _TP
    total = np.zeros(np.broadcast(scale, theta).shape)
    for m, n in _LATTICE_POINTS:  # displacement m * v_col + n * v_row
        y = m * -sin + n * cos + reach
        x = m * cos + n * sin + reach
        ok = (y >= 0) & (y < 2 * reach) & (x >= 0) & (x < 2 * reach)
        y, x = np.clip(y, 0, 2 * reach - 1.001), np.clip(x, 0, 2 * reach - 1.001)
        y0, x0 = y.astype(np.int64), x.astype(np.int64)
        fy, fx = y - y0, x - x0
        val = (acf[y0, x0] * (1 - fy) * (1 - fx) + acf[y0 + 1, x0] * fy * (1 - fx)
               + acf[y0, x0 + 1] * (1 - fy) * fx + acf[y0 + 1, x0 + 1] * fy * fx)
        total += np.where(ok, val, 0.0)
    return total


def _lattice_candidates(plane: np.ndarray) -> list[tuple[float, float]]:
    """Candidate (scale, rotation in radians) of the tiling, best first.

    Scale and rotation are searched on a grid, each hypothesis scored by the autocorrelation summed over the
    lattice points it predicts; the best local maxima are refined on a finer grid.
    """
    reach = math.ceil(_TP * MAX_SCALE_CHANGE * 2.3) + 2
    reach = min(reach, max(plane.shape) - 1)
    acf = _autocorrelation(plane, reach)
    scales = np.exp(np.arange(-math.log(MAX_SCALE_CHANGE), math.log(MAX_SCALE_CHANGE), _SCALE_STEP))
    thetas = np.radians(np.arange(-MAX_ROTATION_DEG, MAX_ROTATION_DEG + 1e-9, _ANGLE_STEP))
    score = _lattice_score(acf, reach, scales[:, None], thetas[None, :])
    peaks = (score == ndimage.maximum_filter(score, size=5, mode="nearest"))
    order = np.argsort(np.where(peaks, score, -np.inf), axis=None)[::-1][:GEOMETRY_CANDIDATES]
    out = []
    for k in order:
        i, j = np.unravel_index(k, score.shape)
        fine_s = scales[i] * np.exp(np.linspace(-_SCALE_STEP, _SCALE_STEP, 9))[:, None]
        fine_t = thetas[j] + np.radians(np.linspace(-_ANGLE_STEP, _ANGLE_STEP, 9))[None, :]
        fine = _lattice_score(acf, reach, fine_s, fine_t)
        a, b = np.unravel_index(int(np.argmax(fine)), fine.shape)
        out.append((float(fine_s[a, 0]), float(fine_t[0, b])))
    return out


def _subpixel(v: np.ndarray) -> float:
    """Parabolic peak offset from three samples."""
    if v.size != 3:
        return 0.0
    den = v[0] - 2 * v[1] + v[2]
    return float(np.clip(0.5 * (v[0] - v[2]) / den, -0.5, 0.5)) if den < 0 else 0.0


@lru_cache(maxsize=1)
def _upsampler() -> np.ndarray:
    """Periodic bilinear chip -> working-pixel matrix (_TP x TILE)."""
    m = np.zeros((_TP, TILE), np.float64)
    for i in range(TILE):
        for off, wgt in ((-1, 0.25), (0, 0.75), (1, 0.75), (2, 0.25)):
            m[(_WP * i + off) % _TP, i] += wgt
    return m


def _fold(plane: np.ndarray, v_col: np.ndarray, v_row: np.ndarray, average: bool = True) -> np.ndarray:
    """Average (or just sum) every working pixel into one tile along the tiling vectors.

    Pixels are binned to the nearest half tile pixel, and the half-pixel bins are then spread over the tile's
    pixels with linear weights: close to bilinear splatting at a quarter of its cost.
    """
    h, w = plane.shape
    inv = np.linalg.inv(np.stack([v_row, v_col], axis=1) / _TP) * 2.0
    rows = np.arange(h, dtype=np.float32)[:, None]
    cols = np.arange(w, dtype=np.float32)[None, :]
    fine = 2 * _TP
    a = _floor_int(np.float32(inv[0, 0]) * rows + np.float32(inv[0, 1]) * cols)
    b = _floor_int(np.float32(inv[1, 0]) * rows + np.float32(inv[1, 1]) * cols)
    idx = _cell_index(a, b, fine).ravel()
    acc = _spread(np.bincount(idx, weights=plane.ravel(), minlength=fine * fine))
    if not average:
        return acc
    cnt = _spread(np.bincount(idx, minlength=fine * fine).astype(np.float64))
    return acc / np.maximum(cnt, 1e-9) * (cnt > 0.5)


def _floor_int(positions: np.ndarray) -> np.ndarray:
    """Nearest integers (halves rounded up) of a float array, as int32, reusing the array for the work."""
    positions += np.float32(0.5)
    np.floor(positions, out=positions)
    return positions.astype(np.int32)


def _cell_index(rows: np.ndarray, cols: np.ndarray, period: int) -> np.ndarray:
    """Flat cell index (row mod period) * period + (col mod period), computed in place in rows.

    The period is a power of two, so "& (period - 1)" is the modulo, negative positions included.
    """
    rows &= period - 1
    rows *= period
    cols &= period - 1
    rows += cols
    return rows


def _spread(fine: np.ndarray) -> np.ndarray:
    """Half-pixel bins (2*_TP)^2 -> tile pixels: bin 2i is pixel i, bin 2i+1 is shared by pixels i and i+1."""
    grid = fine.reshape(_TP, 2, _TP, 2)
    on = grid[:, 0] + 0.5 * (grid[:, 1] + np.roll(grid[:, 1], 1, axis=0))  # rows done: (_TP, _TP, 2)
    return on[..., 0] + 0.5 * (on[..., 1] + np.roll(on[..., 1], 1, axis=1))


@lru_cache(maxsize=16)
def _template_spectrum(sync_bytes: bytes) -> np.ndarray:
    """Conjugate spectrum of the sync pattern upsampled to the working grid (computed once per key)."""
    um = _upsampler()
    sync = np.frombuffer(sync_bytes, np.float32).reshape(TILE, TILE)
    return np.conj(sfft.rfft2(um @ sync @ um.T))


def _sync_offset(folded: np.ndarray, sync: np.ndarray) -> tuple[tuple[float, float], float]:
    """Circular offset (sub-pixel) of the sync pattern in the folded tile and its z-score."""
    spectrum = _template_spectrum(np.ascontiguousarray(sync, np.float32).tobytes())
    corr = sfft.irfft2(sfft.rfft2(folded, workers=1) * spectrum, (_TP, _TP), workers=1)
    k = int(np.argmax(corr))
    r, c = k // _TP, k % _TP
    z = (corr.flat[k] - corr.mean()) / (corr.std() + 1e-12)
    fr = _subpixel(corr[[(r - 1) % _TP, r, (r + 1) % _TP], c])
    fc = _subpixel(corr[r, [(c - 1) % _TP, c, (c + 1) % _TP]])
    return (r + fr, c + fc), float(z)


def _read_soft(folded: np.ndarray, offset: tuple[float, float], key: bytes) -> np.ndarray:
    """Soft coded bits from the folded tile at a (sub-pixel) sync offset."""
    _, payload_idx, chip_bit, chip_sign, _ = _layout(key)
    um = _upsampler()
    f = np.fft.fftfreq(_TP)
    shift = np.exp(2j * np.pi * (f[:, None] * offset[0] + f[None, :] * offset[1]))
    aligned = np.real(np.fft.ifft2(np.fft.fft2(folded) * shift))
    chips = (um.T @ aligned @ um).reshape(-1)
    soft = np.bincount(chip_bit, weights=chips[payload_idx] * chip_sign, minlength=CODED_BITS)
    scale = float(np.median(np.abs(soft)))
    # Saturate: some bits are read strongly wrong (the host outweighs them where informed embedding gave them up),
    # and unbounded values would let them steer the Viterbi decoder. The scale is the typical magnitude, which such
    # outliers do not inflate (a standard deviation would, and shrink the bits read right).
    return np.clip(soft / scale, -_SOFT_CLIP, _SOFT_CLIP) if scale > 0 else soft


def _similarity(scale: float, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """Tiling vectors (v_col, v_row) after a scale change and a rotation (radians)."""
    v_col = np.array([-math.sin(theta), math.cos(theta)]) * scale * _TP
    v_row = np.array([math.cos(theta), math.sin(theta)]) * scale * _TP
    return v_col, v_row


@lru_cache(maxsize=1)
def _coarse_grid() -> tuple[tuple[float, float], ...]:
    """(scale, rotation in radians) hypotheses of the coarse search: rescales at no rotation, rotations at scale 1."""
    scales = np.exp(np.arange(-math.log(MAX_SCALE_CHANGE), math.log(MAX_SCALE_CHANGE) + 1e-9, _COARSE_SCALE_STEP))
    angles = np.arange(-MAX_ROTATION_DEG, MAX_ROTATION_DEG + 1e-9, _COARSE_ANGLE_STEP)
    out = [(float(sc), 0.0) for sc in scales]
    out += [(1.0, math.radians(float(a))) for a in angles if abs(a) > 1e-9]
    return tuple(out)


#: The quarter turns and mirrors of the nominal fold the detector tries besides the fold itself: a platform that
#: drops a photo's EXIF orientation without turning its pixels, an editor's "rotate left" or "flip". The tile is
#: square and the chip grid follows the short side, so such an edit turns the folded tile and keeps its geometry.
_TURNS = (
    lambda f: np.rot90(f, 1),
    lambda f: np.rot90(f, 2),
    lambda f: np.rot90(f, 3),
    lambda f: f[:, ::-1],
    lambda f: f[::-1, :],
    lambda f: f.T,
    lambda f: np.rot90(f, 2).T,
)


def max_decodings() -> int:
    """Readings the detector may decode: nominal fold, best turn, searched geometry, its neighbours, turned-back folds.

    The p-value is a Bonferroni bound over these alone. Every other choice (geometry, turn, tile offset) is made by
    the sync chips, which are disjoint from the payload chips, and the codec's keyed scrambling makes the payload
    bits of content without the key's mark fair coins at whatever alignment the sync chose.
    """
    return 3 + len(_DECODE_NEIGHBOURS) + _REGISTER_DECODE * len(_OFFSET_NEIGHBOURS)


def _coarse_candidates(plane: np.ndarray, sync: np.ndarray) -> list[tuple[float, float]]:
    """Best (scale, rotation) of the coarse grid by sync correlation, folded at one working pixel per chip."""
    h, w = plane.shape[0] // _WP * _WP, plane.shape[1] // _WP * _WP
    pc = plane[:h, :w].reshape(h // _WP, _WP, w // _WP, _WP).mean(axis=(1, 3)).astype(np.float32)
    hc, wc = pc.shape
    y = np.arange(hc, dtype=np.float32)[:, None] - np.float32(hc / 2)
    x = np.arange(wc, dtype=np.float32)[None, :] - np.float32(wc / 2)
    flat = pc.ravel()
    grid = _coarse_grid()
    folds = np.empty((len(grid), TILE, TILE))
    for i, (scale, theta) in enumerate(grid):
        if theta == 0.0:  # separable: bin rows and columns on their own
            a = np.floor(y[:, 0] / np.float32(scale) + 0.5).astype(np.int64) % TILE
            b = np.floor(x[0] / np.float32(scale) + 0.5).astype(np.int64) % TILE
            r_bin = np.zeros((TILE, hc), np.float32)
            r_bin[a, np.arange(hc)] = 1.0
            c_bin = np.zeros((wc, TILE), np.float32)
            c_bin[np.arange(wc), b] = 1.0
            folds[i] = r_bin @ pc @ c_bin
        else:
            c, sn = np.float32(math.cos(theta) / scale), np.float32(math.sin(theta) / scale)
            cell = _cell_index(_floor_int(c * y + sn * x), _floor_int(c * x - sn * y), TILE)
            folds[i] = np.bincount(cell.ravel(), weights=flat, minlength=TILE * TILE).reshape(TILE, TILE)
    corr = sfft.irfft2(sfft.rfft2(folds, workers=1) * np.conj(sfft.rfft2(sync)), (TILE, TILE), workers=1)  # all at once
    z = (corr.max(axis=(1, 2)) - corr.mean(axis=(1, 2))) / (corr.std(axis=(1, 2)) + 1e-12)
    scored = sorted(zip(z.tolist(), (sc for sc, _ in grid), (th for _, th in grid)), reverse=True)
    return [(sc, th) for _, sc, th in scored[:_COARSE_KEEP]]


class _Reading(NamedTuple):
    """A folded tile, the sync offset it will be read at, and that offset's sync z-score."""

    folded: np.ndarray
    offset: tuple[float, float]
    z: float


def _turned_back(work_luma: np.ndarray, degrees: float) -> np.ndarray:
    """The detector's plane of the working-scale luma turned back by a rotation (degrees, about its centre)."""
    turned = Image.fromarray(work_luma, "F").rotate(-degrees, Image.Resampling.BICUBIC)
    return _analyse_plane(np.asarray(turned, np.float32))[0]


def _readings_turned_back(work_luma: np.ndarray, degrees: float, scale: float, sync: np.ndarray) -> list[_Reading]:
    """Fold the luma turned back by a rotation: at the nominal scale, and at the found one where that differs."""
    plane = _turned_back(work_luma, degrees)
    folds = [_fold_nominal(plane)]
    if abs(scale - 1) > _REGISTER_SCALE_TOL:
        folds.append(_fold(plane, *_similarity(scale, 0.0)))
    return [_Reading(f, *_sync_offset(f, sync)) for f in folds]


def _registered_readings(work_luma: np.ndarray, scale: float, theta: float, sync: np.ndarray) -> list[_Reading]:
    """Readings of the image turned back by the found rotation, or none when the turned-back sync stays weak.

    Folding the rotated plane along rotated tiling vectors reads each bit against a fresh sample of the host, so on
    busy texture the host-aware embedding's advantage is lost. Turning the (working-scale) luma back instead
    restores nearly the pixels the embedder saw, and with them its cancellation of the host's readout. The angle
    matters to a tenth of a degree, which the fold's sync peak does not give on weak marks, so the turned-back
    sync is scanned around it; the best turned-back folds are read at their sync offset and a quarter pixel
    around it.
    """
    def scan(around: float, steps: tuple[float, ...]) -> list[tuple[float, _Reading]]:
        return [(around + d, r) for d in steps for r in _readings_turned_back(work_luma, around + d, scale, sync)]

    centre = math.degrees(theta)
    scanned = scan(centre, (0.0,))
    if max(r.z for _, r in scanned) < _REGISTER_GO_Z:  # unmarked content: stop after one turn
        return []
    scanned += scan(centre, _REGISTER_SCAN)
    scanned += scan(max(scanned, key=lambda t: t[1].z)[0], _REGISTER_FINE)
    ranked = sorted((r for _, r in scanned), key=lambda r: -r.z)[:_REGISTER_DECODE]
    return [r._replace(offset=(r.offset[0] + dy, r.offset[1] + dx)) for r in ranked for dy, dx in _OFFSET_NEIGHBOURS]


def detect_image(pixels: np.ndarray, key: bytes, fpr: float = DEFAULT_FPR) -> PayloadDecision:
    """Look for a watermark made with the key; the p-value covers every reading decoded."""
    key = _check_key(key)
    arr = _as_image(pixels)
    analysis = _analyse(_luma(arr))
    plane = analysis.plane
    sync, _, _, _, codec = _layout(key)
    folded = _fold_nominal(plane)
    offset, z = _sync_offset(folded, sync)
    finalists = [(folded, offset)]
    (turned_offset, turned_z), turned = max(
        ((_sync_offset(f, sync), f) for f in (turn(folded) for turn in _TURNS)), key=lambda t: t[0][1]
    )
    if turned_z > z:  # the picture was turned a quarter or mirrored: read the turned fold too
        finalists.append((np.ascontiguousarray(turned), turned_offset))
    if max(z, turned_z) < _SYNC_SURE:  # the image may have been rotated, cropped or rescaled: search the geometry
        found = None
        for scale, theta in _coarse_candidates(plane, sync) + _lattice_candidates(plane):
            z = _sync_offset(_fold(plane, *_similarity(scale, theta), False), sync)[1]
            if found is None or z > found[0]:
                found = (z, scale, theta)
        z0, scale, theta = found
        for steps in _REFINE_STEPS:  # polish the best geometry: the fold is sensitive to small scale and angle errors
            moves = np.array([(0.0, 0.0)] + list(steps))
            zs = np.array([z0] + [_sync_offset(_fold(plane, *_similarity(scale * (1 + ds), theta + math.radians(dt)),
                                                     False), sync)[1] for ds, dt in steps])
            axis = int(np.argmax(np.abs(moves).max(axis=0)))  # each round moves along one axis
            d = moves[:, axis]
            a2, a1, _ = np.polyfit(d, zs, 2)  # a parabola through the z-scores: steadier than their maximum
            step = float(np.clip(-a1 / (2 * a2), d.min(), d.max())) if a2 < 0 else float(d[int(np.argmax(zs))])
            if axis == 0:
                scale *= 1 + step
            else:
                theta += math.radians(step)
            z0 = _sync_offset(_fold(plane, *_similarity(scale, theta), False), sync)[1] if step else z0
        folded = _fold(plane, *_similarity(scale, theta))
        finalists.append((folded, _sync_offset(folded, sync)[0]))
        if abs(math.degrees(theta)) >= _REGISTER_MIN_DEG and _REGISTER_MIN_Z <= z0 < _SYNC_SURE:
            finalists += [(r.folded, r.offset) for r in _registered_readings(analysis.luma, scale, theta, sync)]
        # A weak sync peak leaves the geometry a little off: let the code judge between its neighbours. Below
        # _NEIGHBOURS_MIN_Z the peak is no stronger than chance (unmarked photos, 152 searches: at most 5.24), and
        # the extra decodings would only slow down the commonest answer, 'not marked'; from _SYNC_SURE on, the
        # peak places the geometry well enough.
        for ds, dt in _DECODE_NEIGHBOURS if _NEIGHBOURS_MIN_Z <= z0 < _SYNC_SURE else ():
            near = _fold(plane, *_similarity(scale * (1 + ds), theta + math.radians(dt)))
            finalists.append((near, _sync_offset(near, sync)[0]))
    # Bonferroni over the finalists decoded (at most max_decodings()): the best of their decodings is covered.
    decisions = [codec.decode(_read_soft(f, o, key), fpr=fpr, n_trials=max_decodings()) for f, o in finalists]
    return min(decisions, key=lambda d: (not d.detected, d.p_value))


def embed_image_best(
    pixels: np.ndarray, key: bytes, new_payload: Callable[[], int], tries: int = PAYLOAD_TRIES,
    strength: float | None = None,
) -> tuple[np.ndarray, int]:
    """Mark the picture with whichever of up to `tries` fresh payloads it carries best: (marked copy, that payload).

    A payload is only an id into the manifest store, so any fresh one will do (new_payload draws one), and the
    picture need not carry them all equally: on busy texture the host's own readout helps some codewords and fights
    others (informed coding), and the untouched copy reads back with anywhere from a few to over fifty coded bits
    wrong, or not at all. The first payload that reads back with at most GOOD_READBACK_SHARE of its bits wrong is
    kept at once (almost every photograph: one try and one read-back, a dozen milliseconds for a megapixel);
    otherwise the one read back with the fewest errors wins. Pictures over CHOOSE_MAX_PIXELS take the first payload
    (a sign stays within seconds). Detection is unchanged, and so is its false-positive bound: the p-value covers
    every payload at once.
    """
    if isinstance(tries, bool) or not isinstance(tries, int) or tries < 1:
        raise WatermarkError("tries must be a positive integer")
    height, width = _as_image(pixels).shape[:2]
    if height * width > CHOOSE_MAX_PIXELS:
        payload = new_payload()
        return embed_image(pixels, payload, key, strength), payload
    best: tuple[tuple[bool, int], np.ndarray, int] | None = None
    for _ in range(tries):
        payload = new_payload()
        marked = embed_image(pixels, payload, key, strength)
        decision = detect_image(marked, key)
        score = (not decision.carries(payload), decision.bit_errors)
        if best is None or score < best[0]:
            best = (score, marked, payload)
        if decision.carries(payload) and decision.bit_errors <= GOOD_READBACK_SHARE * decision.n_bits:
            break
    assert best is not None
    return best[1], best[2]
