"""Generate images: reconstruct real photos through the latent autoencoder, or sample the DiT; sign the output."""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import numpy as np

from provguard.errors import InputError, MediaTooLargeError, UnsupportedMediaError

#: softwareAgent names and version written into manifests.
AE_MODEL_NAME = "provguard-latent-autoencoder"
DIT_MODEL_NAME = "provguard-latent-dit"
MODEL_VERSION = "1.0"
#: Largest --from image reconstructed (pixels); tiles keep memory bounded, this bounds time.
DEFAULT_MAX_RECON_PIXELS = 16_000_000
#: Reconstruction tile (pixels, square) and overlap: peak memory is bounded by the tile, not the image.
DEFAULT_TILE = 512
#: Smallest short side the autoencoder accepts, and the smallest a signed (watermarked) output may have.
MIN_SIDE = 64
MIN_SIGNED_SIDE = 256
#: Sample sizes: multiples of SIZE_STEP within [MIN_SAMPLE_SIZE, MAX_SAMPLE_SIZE]; DDIM steps by default.
SIZE_STEP, MIN_SAMPLE_SIZE, MAX_SAMPLE_SIZE = 16, 64, 1024
DEFAULT_STEPS = 30
MAX_STEPS = 1000
#: Most images one call makes.
MAX_IMAGES = 1000
#: Output formats and their PIL names.
FORMATS = {"png": ("PNG", ".png"), "jpeg": ("JPEG", ".jpg"), "jpg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp")}


@functools.lru_cache(maxsize=1)
def _autoencoder() -> Any:
    """The shipped autoencoder, loaded once."""
    from provguard.generate.autoencoder import load_autoencoder

    return load_autoencoder()


@functools.lru_cache(maxsize=1)
def _dit() -> Any:
    """The shipped diffusion transformer, loaded once."""
    from provguard.generate.dit import load_dit

    return load_dit()


def clear_model_cache() -> None:
    """Forget loaded models (after retraining in the same process)."""
    _autoencoder.cache_clear()
    _dit.cache_clear()


def sub_seed(seed: int, index: int) -> int:
    """A 63-bit seed for item `index` of a run seeded with `seed`."""
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, index]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def decode_source(src: bytes | Path, *, max_pixels: int = DEFAULT_MAX_RECON_PIXELS, min_side: int = MIN_SIDE) -> np.ndarray:
    """Read and decode a still image to uint8 RGB, enforcing the pixel limit and the minimum side."""
    from provguard.media import read_media, sniff
    from provguard.mediaio import decode_image

    data = src if isinstance(src, bytes) else read_media(Path(src))[0]
    kind = sniff(data)
    if kind.family != "image":
        raise UnsupportedMediaError(f"the source must be a still image, not {kind.mime}")
    pixels = decode_image(data, kind, max_pixels=max_pixels).pixels
    h, w = pixels.shape[:2]
    if h * w > max_pixels:
        raise MediaTooLargeError(f"image is {w}x{h}, over the {max_pixels}-pixel limit for reconstruction")
    if min(h, w) < min_side:
        raise InputError(f"image is {w}x{h}; the generator needs at least {min_side} px on the short side")
    return pixels


def reconstruct_image(src: bytes | Path, *, seed: int = 0, tile: int = DEFAULT_TILE,
                      max_pixels: int = DEFAULT_MAX_RECON_PIXELS) -> np.ndarray:
    """Pass a real image through the autoencoder (posterior sample seeded), in feathered tiles: uint8 RGB, same size."""
    import torch

    from provguard.generate.autoencoder import reconstruct_array

    pixels = decode_source(src, max_pixels=max_pixels)
    generator = torch.Generator().manual_seed(seed)
    return reconstruct_array(_autoencoder(), pixels, tile=tile, overlap=max(16, tile // 8), generator=generator)


def check_size(size: int) -> None:
    """Refuse sample sizes the latent grid cannot hold."""
    if size % SIZE_STEP or not MIN_SAMPLE_SIZE <= size <= MAX_SAMPLE_SIZE:
        raise InputError(f"size must be a multiple of {SIZE_STEP} in [{MIN_SAMPLE_SIZE}, {MAX_SAMPLE_SIZE}], got {size}")


def sample_latents(grid: tuple[int, int], *, seed: int, steps: int = DEFAULT_STEPS) -> Any:
    """Sample a scaled latent of grid (h, w) cells from pure noise with DDIM."""
    import torch

    from provguard.generate.dit import ddim_sample

    if not 1 <= steps <= MAX_STEPS:
        raise InputError(f"steps must be in [1, {MAX_STEPS}], got {steps}")
    dit = _dit()
    noise = torch.randn((1, dit.config.latent_channels, *grid), generator=torch.Generator().manual_seed(seed))
    return ddim_sample(dit, noise, steps=steps)


def sample_images(n: int, *, size: int = 256, seed: int = 0, steps: int = DEFAULT_STEPS) -> list[np.ndarray]:
    """Sample n square images (size x size uint8 RGB) by DDIM on a size/8 latent grid, decoded by the autoencoder."""
    check_size(size)
    if not 1 <= n <= MAX_IMAGES:
        raise InputError(f"n must be in [1, {MAX_IMAGES}], got {n}")
    return [_sample_one(size, sub_seed(seed, i), steps) for i in range(n)]


def _sample_one(size: int, seed: int, steps: int) -> np.ndarray:
    """One size x size sample from an exact seed."""
    from provguard.generate.autoencoder import DOWNSAMPLE, decode_latent, to_pixels

    grid = (size // DOWNSAMPLE, size // DOWNSAMPLE)
    return to_pixels(decode_latent(_autoencoder(), sample_latents(grid, seed=seed, steps=steps)))


def encode_still(pixels: np.ndarray, fmt: str) -> bytes:
    """Encode uint8 RGB as PNG, JPEG (quality 95) or WebP (quality 95)."""
    from PIL import Image

    name = FORMATS[fmt][0]
    buf = io.BytesIO()
    args: dict[str, Any] = {"quality": 95} if name in ("JPEG", "WEBP") else {}
    Image.fromarray(pixels).save(buf, format=name, **args)
    return buf.getvalue()


def output_paths(output: Path, n: int, ext: str, stem: str) -> list[Path]:
    """One file for n == 1; else n numbered files in the directory `output` (created if missing)."""
    output = Path(output)
    if n == 1:
        return [output]
    if output.exists() and not output.is_dir():
        raise InputError(f"output {output} must be a directory when making {n} files")
    output.mkdir(parents=True, exist_ok=True)
    return [output / f"{stem}-{i:04d}{ext}" for i in range(n)]


def write_output(data: bytes, path: Path, *, generator: str, no_sign: bool, force: bool) -> Path:
    """Sign (watermark + C2PA + store) and write, or with no_sign just write atomically."""
    from provguard.fileio import atomic_write, check_output_path

    if no_sign:
        check_output_path(path, force)
        atomic_write(path, data)
        return path
    from provguard.sign import sign

    sign(data, path, generator=generator, digital_source_type="trainedAlgorithmicMedia", force=force, title=path.name)
    return path


def generate_image(output: Path, *, source: Path | None = None, n: int = 1, size: int = 256, seed: int = 0,
                   steps: int = DEFAULT_STEPS, no_sign: bool = False, force: bool = False, fmt: str = "png") -> list[Path]:
    """Reconstruct `source` (aligned fake) or sample new images; write n files, signed unless no_sign."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(sorted(FORMATS))}, got {fmt!r}")
    if not 1 <= n <= MAX_IMAGES:
        raise InputError(f"n must be in [1, {MAX_IMAGES}], got {n}")
    ext = FORMATS[fmt][1]
    if source is None:
        check_size(size)
        if not no_sign and size < MIN_SIGNED_SIDE:
            raise InputError(f"signed images need size >= {MIN_SIGNED_SIDE} for the watermark (or use --no-sign)")
    else:
        pixels = decode_source(Path(source))
        if not no_sign and min(pixels.shape[:2]) < MIN_SIGNED_SIDE:
            raise InputError(f"the source is {pixels.shape[1]}x{pixels.shape[0]}; signed outputs need "
                             f"{MIN_SIGNED_SIDE} px on the short side for the watermark (or use --no-sign)")
    paths = output_paths(Path(output), n, ext, "recon" if source is not None else "sample")
    if not force:
        from provguard.errors import OutputExistsError

        for path in paths:
            if path.exists():
                raise OutputExistsError(f"output {path} already exists (use --force to replace it)")
    agent = f"{AE_MODEL_NAME if source is not None else DIT_MODEL_NAME}@{MODEL_VERSION}"
    written = []
    for i, path in enumerate(paths):
        if source is not None:
            image = reconstruct_image(Path(source), seed=sub_seed(seed, i))
        else:
            image = _sample_one(size, sub_seed(seed, i), steps)
        written.append(write_output(encode_still(image, fmt), path, generator=agent, no_sign=no_sign, force=force))
    return written
