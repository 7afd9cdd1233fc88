"""Social-media style degradations for training and evaluation: JPEG, resizing, blur (the same for both classes)."""

from __future__ import annotations

import io

import numpy as np

from detectors.image.features import PATCH

#: Training augmentation ranges (issue 5): JPEG quality, resize factor, blur sigma; and how often each is applied.
JPEG_QUALITY = (60, 100)
RESIZE_SCALE = (0.5, 1.5)
BLUR_SIGMA = (0.1, 1.2)
P_JPEG, P_RESIZE, P_BLUR = 0.6, 0.6, 0.25


def draw_scale(rng: np.random.Generator) -> float:
    """A resize factor, log-uniform over RESIZE_SCALE (downscales as likely as upscales)."""
    return float(np.exp(rng.uniform(np.log(RESIZE_SCALE[0]), np.log(RESIZE_SCALE[1]))))


def jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    """Encode as JPEG at `quality` (4:2:0, PIL defaults) and decode again."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def resize(pixels: np.ndarray, scale: float, resample: str = "bicubic") -> np.ndarray:
    """Resize by `scale` (at least 1 px a side) with a PIL filter by name."""
    from PIL import Image

    h, w = pixels.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    filt = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
            "lanczos": Image.Resampling.LANCZOS}[resample]
    return np.asarray(Image.fromarray(pixels).resize(size, filt))


def blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation `sigma` pixels."""
    from PIL import Image, ImageFilter

    return np.asarray(Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(radius=float(sigma))))


def augmented_patches(pixels: np.ndarray, n: int, rng: np.random.Generator, *, patch: int = PATCH,
                      augment: bool = True) -> np.ndarray:
    """n random patches from a random region of the image after a random resize, blur and JPEG."""
    from detectors.image.features import random_patches

    h, w = pixels.shape[:2]
    scale = draw_scale(rng) if augment and rng.random() < P_RESIZE else 1.0
    side = int(np.ceil((patch * 2.5) / scale))
    ch, cw = min(h, side), min(w, side)
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    region = pixels[y : y + ch, x : x + cw]
    if scale != 1.0:
        scale = max(scale, patch / min(ch, cw))
        region = resize(region, scale, str(rng.choice(["bilinear", "bicubic", "lanczos"])))
    if augment and rng.random() < P_BLUR:
        region = blur(region, float(rng.uniform(*BLUR_SIGMA)))
    if augment and rng.random() < P_JPEG:
        region = jpeg(region, int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
    return random_patches(region, n, rng, patch=patch)


def augment_image(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A whole image under one random draw of the training degradations (resize, blur, JPEG)."""
    out = pixels
    if rng.random() < P_RESIZE:
        scale = max(draw_scale(rng), (PATCH + 1) / min(pixels.shape[:2]))
        out = resize(out, scale, str(rng.choice(["bilinear", "bicubic", "lanczos"])))
    if rng.random() < P_BLUR:
        out = blur(out, float(rng.uniform(*BLUR_SIGMA)))
    if rng.random() < P_JPEG:
        out = jpeg(out, int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
    return out
