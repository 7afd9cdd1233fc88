"""Real and fake image sets per corpus split, generated once and cached as PNG under the data dir.

Real: square crops (at most CROP px, native resolution) of corpus photos. Fakes, by family:
- "recon": each real crop passed through the reference autoencoder (aligned fakes);
- "sample": unconditional DiT samples (SAMPLE_SIZE px), seeded per split;
- "video": frames of image-to-video clips made from the split's photos (test split only: never trained on).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from provguard.errors import InputError

#: Cache layout version: bump when the recipe below changes.
DATA_VERSION = "image-v1"
CROP = 512
#: Crops per photo (about one per CROP^2 pixels, at most this many), per split.
MAX_CROPS = {"train": 4, "val": 4, "test": 8}
SAMPLE_SIZE = 256
SAMPLES = {"train": 160, "val": 32, "test": 48}
SAMPLE_SEEDS = {"train": 1001, "val": 2002, "test": 3003}
#: Video family: frames per clip, clip size; clips from the split's photos plus this many from DiT samples.
VIDEO_FRAMES, VIDEO_SIZE, VIDEO_FROM_SAMPLES = 3, 256, 3
FAMILIES = ("recon", "sample", "video")
Progress = Callable[[str], None] | None


@dataclass(frozen=True)
class Item:
    """One cached image: its PNG path, label (1 = synthetic), family ('real' or a fake family), split, source photo."""

    path: str
    label: int
    family: str
    split: str
    source: str


def default_data_dir() -> Path:
    """Where generated image sets are cached: <data dir>/fakes/image-v1."""
    from provguard.generate.corpus import default_corpus_dir

    return default_corpus_dir().parent / "fakes" / DATA_VERSION


def _seed_of(text: str) -> int:
    """A stable 32-bit seed from a string."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def _to_rgb(path: Path) -> np.ndarray:
    """Decode a corpus photo to uint8 RGB (grey and RGBA become RGB)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _save_png(pixels: np.ndarray, path: Path) -> None:
    """Write uint8 RGB as PNG atomically."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    Image.fromarray(pixels).save(tmp, format="PNG")
    tmp.replace(path)


def crop_boxes(height: int, width: int, split: str, key: str) -> list[tuple[int, int, int]]:
    """Seeded (y, x, side) crops of a photo: about one per CROP^2 pixels, at most MAX_CROPS[split]."""
    side = min(CROP, height, width) // 16 * 16
    n = int(np.clip(round(height * width / CROP**2), 1, MAX_CROPS[split]))
    rng = np.random.default_rng(_seed_of(key))
    return [(int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1)), side) for _ in range(n)]


def _photos(split: str, corpus_dir: Path | None) -> list[tuple[str, Path]]:
    """(name, path) of the corpus photos in a split."""
    from provguard.generate.corpus import default_corpus_dir, load_corpus

    root = Path(corpus_dir or default_corpus_dir())
    items = [i for i in load_corpus(root) if i.kind == "photo" and i.split == split]
    if not items:
        raise InputError(f"the corpus at {root} has no {split} photos: run `provguard corpus build` first")
    return [(Path(i.path).stem + "-" + i.sha256[:8], root / i.path) for i in sorted(items, key=lambda i: i.path)]


def _real_and_recon(split: str, root: Path, corpus_dir: Path | None, progress: Progress) -> list[Item]:
    """Real crops and their autoencoder reconstructions (made when missing)."""
    from provguard.generate.image import reconstruct_image

    items = []
    for name, path in _photos(split, corpus_dir):
        pixels = None
        for k, (y, x, side) in enumerate(crop_boxes(*_shape(path), split, name)):
            real = root / split / "real" / f"{name}-{k}.png"
            fake = root / split / "recon" / f"{name}-{k}.png"
            if not real.exists():
                pixels = _to_rgb(path) if pixels is None else pixels
                _save_png(np.ascontiguousarray(pixels[y : y + side, x : x + side]), real)
            if not fake.exists():
                _save_png(reconstruct_image(real, seed=_seed_of(fake.name)), fake)
                if progress:
                    progress(f"{split}: reconstructed {fake.name}")
            items += [Item(str(real), 0, "real", split, name), Item(str(fake), 1, "recon", split, name)]
    return items


def _shape(path: Path) -> tuple[int, int]:
    """(height, width) of an image file without decoding it."""
    from PIL import Image

    with Image.open(path) as im:
        return im.height, im.width


def _samples(split: str, root: Path, progress: Progress) -> list[Item]:
    """DiT samples for a split (made when missing)."""
    from provguard.generate.image import _sample_one, sub_seed

    items = []
    for i in range(SAMPLES[split]):
        out = root / split / "sample" / f"sample-{i:04d}.png"
        if not out.exists():
            _save_png(_sample_one(SAMPLE_SIZE, sub_seed(SAMPLE_SEEDS[split], i), 30), out)
            if progress and i % 10 == 0:
                progress(f"{split}: sampled {out.name}")
        items.append(Item(str(out), 1, "sample", split, f"sample-{i:04d}"))
    return items


def _video(split: str, root: Path, corpus_dir: Path | None, progress: Progress) -> list[Item]:
    """Image-to-video frames from the split's first crop of each photo, and from DiT samples (made when missing)."""
    from provguard.generate.video import make_video_frames

    sources: list[tuple[str, Path | None]] = [(n, root / split / "real" / f"{n}-0.png") for n, _ in _photos(split, corpus_dir)]
    sources += [(f"dit{j}", None) for j in range(VIDEO_FROM_SAMPLES)]
    items = []
    for name, src in sources:
        paths = [root / split / "video" / f"{name}-f{t}.png" for t in range(VIDEO_FRAMES)]
        if not all(p.exists() for p in paths):
            frames = make_video_frames(source=src, frames=VIDEO_FRAMES, size=VIDEO_SIZE, seed=_seed_of(name), motion="pan")
            for p, frame in zip(paths, frames):
                _save_png(frame, p)
            if progress:
                progress(f"{split}: video frames from {name}")
        items += [Item(str(p), 1, "video", split, name) for p in paths]
    return items


def build_split(split: str, *, corpus_dir: Path | None = None, data_dir: Path | None = None,
                families: tuple[str, ...] = ("recon", "sample"), progress: Progress = None) -> list[Item]:
    """All items of a split (real crops + the requested fake families), generating what the cache lacks."""
    root = Path(data_dir or default_data_dir())
    items = _real_and_recon(split, root, corpus_dir, progress)
    if "recon" not in families:
        items = [i for i in items if i.family != "recon"]
    if "sample" in families:
        items += _samples(split, root, progress)
    if "video" in families:
        items += _video(split, root, corpus_dir, progress)
    (root / f"{split}.json").write_text(json.dumps([i.__dict__ for i in items], indent=0))
    return items


def load_pixels(item: Item) -> np.ndarray:
    """Decode a cached item to uint8 RGB."""
    return _to_rgb(Path(item.path))
