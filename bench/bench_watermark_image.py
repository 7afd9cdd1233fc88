"""Benchmark: image watermark robustness, quality, speed and false positives, beside invisible-watermark.

Photo set: real photographs gathered at run time into data/photos/ (outside git) from the real-media corpus
(`provguard corpus build`), or else from installed packages: Debian `lomiri-wallpapers-16.04`, `mate-backgrounds`, `opencv-doc` (examples/data), and the scikit-image 0.26 wheel
(skimage/data: an installed scikit-image, or the unpacked wheel named by SKIMAGE_DATA_DIR). Photos whose short
side is under 512 px are skipped (a 0.5x resize must stay above MIN_SIDE); larger ones are fitted to 1024 px.
The comparison needs `invisible-watermark` (installed with --no-deps), `opencv-python-headless` and `PyWavelets`.

Run: python -m bench.bench_watermark_image --out FILE [--limit N] [--no-baseline]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # timings are for one core

import argparse
import hashlib
import io
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance
from scipy import ndimage

from bench.common import emit, section, table
from provguard.errors import ImageTooSmallError
from provguard.watermark.image import PAYLOAD_TRIES, detect_image, embed_image, embed_image_best

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "data" / "photos"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(100, 132))
LONG_SIDE = 1024
MIN_SHORT = 512

_DEB_DIRS = ["/usr/share/backgrounds", "/usr/share/doc/opencv-doc/examples/data"]
#: Real photographs only (no graphics, paintings, calibration boards or text scans; like the corpus, the bench leaves out
#: umang_by_Abhishek_Mudgal, which is abstract art).
_SOURCES = [
    "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg",
    "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg",
    "free_by_Peter_Nerlich.jpg", "friends_by_Aitzol_Berasategi.jpg", "greentock_by_Peter_Nerlich.jpg",
    "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg", "seeding_by_Clements_Engelhardt.jpg",
    "sunset_by_Aitzol_Berasategi.jpg",
    "mate/nature/Aqua.jpg", "mate/nature/Blinds.jpg", "mate/nature/Dune.jpg", "mate/nature/FreshFlower.jpg",
    "mate/nature/Garden.jpg", "mate/nature/GreenMeadow.jpg", "mate/nature/LadyBird.jpg", "mate/nature/RainDrops.jpg",
    "mate/nature/Storm.jpg", "mate/nature/TwoWings.jpg", "mate/nature/Wood.jpg", "mate/nature/YellowFlower.jpg",
    "aloeL.jpg", "ela_original.jpg", "leuvenA.jpg", "building.jpg", "graf1.png", "baboon.jpg", "orange.jpg",
    "fruits.jpg",
    "astronaut.png", "camera.png", "motorcycle_left.png", "brick.png", "grass.png", "gravel.png",
]
#: scikit-image's sample photos: an installed scikit-image, or its wheel unpacked where SKIMAGE_DATA_DIR points
#: (`pip download --no-deps scikit-image==0.26.0 -d W && unzip W/scikit_image-*.whl 'skimage/data/*' -d W`).
_SKIMAGE_DIRS = [d for d in (os.environ.get("SKIMAGE_DATA_DIR"), "/tmp/wheels/x/skimage/data") if d]
#: Close-up texture scans (brick, gravel: CC0Textures; grass: DeviantArt; all CC0) among the photos: reported apart too.
TEXTURES = {"brick", "grass", "gravel"}


def _corpus_dirs() -> list[str]:
    """The photo folders of the real-media corpus (`provguard corpus build`), when it has been built."""
    try:
        from provguard.generate.corpus import default_corpus_dir
    except ImportError:
        return []
    files = default_corpus_dir() / "files"
    return [str(d) for d in sorted(files.iterdir())] if files.is_dir() else []


def _find(name: str) -> Path | None:
    """Locate a source photo in the corpus, the Debian doc/background folders, or scikit-image's data."""
    dirs = _corpus_dirs() + list(_DEB_DIRS) + list(_SKIMAGE_DIRS)
    try:
        import skimage.data  # type: ignore[import-not-found]

        dirs.append(str(Path(skimage.data.__file__).parent))
    except ImportError:
        pass
    for d in dirs:
        for candidate in (Path(d) / name, Path(d) / Path(name).name):
            if candidate.exists():
                return candidate
    return None


def build_photo_set() -> list[Path]:
    """Gather real photos into data/photos/ (fitted to LONG_SIDE px) and return their paths."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = []
    for name in _SOURCES:
        dst = CACHE / (Path(name).stem + ".png")
        if not dst.exists():
            src = _find(name)
            if src is None:
                continue
            img = Image.open(src).convert("RGB")
            scale = LONG_SIDE / max(img.size)
            if scale < 1:
                img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
            if min(img.size) < MIN_SHORT:
                continue
            img.save(dst)
        out.append(dst)
    return out


# ----- attacks --------------------------------------------------------------------------------------------------


def _codec(img: np.ndarray, fmt: str, quality: int) -> np.ndarray:
    if fmt == "HEIF":  # pillow-heif (the heif extra) teaches Pillow HEIC
        import pillow_heif

        pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt, quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _resize(img: np.ndarray, factor: float) -> np.ndarray:
    h, w = img.shape[:2]
    size = (round(w * factor), round(h * factor))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BICUBIC))


def _crop(img: np.ndarray, area: float) -> np.ndarray:
    h, w = img.shape[:2]
    s = area**0.5
    ch, cw = round(h * s), round(w * s)
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[y : y + ch, x : x + cw]


def _rotate(img: np.ndarray, deg: float) -> np.ndarray:
    return np.asarray(Image.fromarray(img).rotate(deg, Image.Resampling.BICUBIC))


def _enhance(img: np.ndarray, kind: str, factor: float) -> np.ndarray:
    pil = Image.fromarray(img)
    enh = ImageEnhance.Brightness(pil) if kind == "brightness" else ImageEnhance.Contrast(pil)
    return np.asarray(enh.enhance(factor))


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    out = ndimage.gaussian_filter(img.astype(np.float32), (sigma, sigma, 0))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _noise(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(img + rng.normal(0, sigma, img.shape)), 0, 255).astype(np.uint8)


ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none (PNG)": lambda x: x,
    "JPEG q50": lambda x: _codec(x, "JPEG", 50),
    "WebP q50": lambda x: _codec(x, "WEBP", 50),
    "resize 0.5x": lambda x: _resize(x, 0.5),
    "centre crop 70% area": lambda x: _crop(x, 0.7),
    "rotate 2 deg": lambda x: _rotate(x, 2),
    "rotate 5 deg": lambda x: _rotate(x, 5),
    "rotate -5 deg": lambda x: _rotate(x, -5),
    "brightness +25%": lambda x: _enhance(x, "brightness", 1.25),
    "brightness -25%": lambda x: _enhance(x, "brightness", 0.75),
    "contrast +25%": lambda x: _enhance(x, "contrast", 1.25),
    "contrast -25%": lambda x: _enhance(x, "contrast", 0.75),
    "gaussian blur sigma 1": lambda x: _blur(x, 1.0),
    "gaussian noise sigma 5": lambda x: _noise(x, 5.0),
    "screenshot (0.75x, JPEG q80)": lambda x: _codec(_resize(x, 0.75), "JPEG", 80),
    "crop 70% + JPEG q75": lambda x: _codec(_crop(x, 0.7), "JPEG", 75),
    "resize 0.5x + JPEG q75": lambda x: _codec(_resize(x, 0.5), "JPEG", 75),
    # beyond the list: an editor's quarter turn or mirror (or EXIF orientation dropped without turning pixels)
    "rotate 90 deg + JPEG q80": lambda x: _codec(np.ascontiguousarray(np.rot90(x)), "JPEG", 80),
    "mirror + JPEG q80": lambda x: _codec(np.ascontiguousarray(x[:, ::-1]), "JPEG", 80),
    # and the formats platforms serve pictures in: AVIF, and GIF (an adaptive 256-colour palette, dithered); and HEIC,
    # the one phones keep photos in
    "AVIF q50": lambda x: _codec(x, "AVIF", 50),
    "GIF": lambda x: _codec(x, "GIF", 0),
    "HEIC q50": lambda x: _codec(x, "HEIF", 50),
}


# ----- quality ---------------------------------------------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all channels."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of luma (Gaussian window sigma 1.5, Wang et al. 2004 constants)."""
    w = np.array([0.299, 0.587, 0.114])
    x = a.astype(np.float64) @ w if a.ndim == 3 else a.astype(np.float64)
    y = b.astype(np.float64) @ w if b.ndim == 3 else b.astype(np.float64)
    f = lambda z: ndimage.gaussian_filter(z, 1.5, truncate=3.5)  # noqa: E731
    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


# ----- methods ---------------------------------------------------------------------------------------------------


def _payload_draws(seed: int) -> Callable[[], int]:
    """Fresh random 64-bit payloads from a seeded generator (the bench's stand-in for the manifest store)."""
    rng = np.random.default_rng(seed)
    return lambda: int.from_bytes(rng.bytes(8), "big")


def _payload(i: int) -> int:
    return _payload_draws(1000 + i)()


def photo_seed(photo: Path) -> int:
    """A photo's payload seed, from its name: the same payload whichever other photos this machine has."""
    return int.from_bytes(hashlib.sha256(b"provguard-bench/" + photo.stem.encode()).digest()[:4], "big")


class Ours:
    """provguard's image watermark (64-bit payload)."""

    name = "provguard (64 bits)"
    n_bits = 64

    def __init__(self) -> None:
        self.tries: list[int] = []  # payloads drawn per photo marked

    def embed(self, img: np.ndarray, payload: int) -> np.ndarray:
        """The embedding alone, with a given payload (what the timing table measures)."""
        return embed_image(img, payload, KEY)

    def mark(self, img: np.ndarray, seed: int) -> tuple[np.ndarray, int]:
        """Mark as `provguard sign` does: the fresh payload the picture carries best (drawn from the seed)."""
        fresh, drawn = _payload_draws(seed), []

        def draw() -> int:
            drawn.append(fresh())
            return drawn[-1]

        marked, payload = embed_image_best(img, KEY, draw)
        self.tries.append(len(drawn))
        return marked, payload

    def read(self, img: np.ndarray, payload: int) -> tuple[float, bool]:
        """Bit accuracy of the decoded payload and whether the exact payload was detected."""
        try:
            d = detect_image(img, KEY)
        except ImageTooSmallError:
            return 0.5, False
        if d.payload is None:
            # report bit accuracy of the best guess even when not detected: decode with fpr=1
            d2 = detect_image(img, KEY, fpr=1.0)
            guess = d2.payload if d2.payload is not None else 0
            return 1 - bin(guess ^ payload).count("1") / 64, False
        return 1 - bin(d.payload ^ payload).count("1") / 64, d.payload == payload

    def detect(self, img: np.ndarray) -> object:
        """One detection, as a user's call makes it (what the timing table measures)."""
        return detect_image(img, KEY)


class DwtDctSvd:
    """invisible-watermark's dwtDctSvd (as in the SDXL pipeline), 48-bit payload."""

    name = "invisible-watermark dwtDctSvd (48 bits)"
    n_bits = 48

    def __init__(self) -> None:
        from imwatermark import WatermarkDecoder, WatermarkEncoder  # type: ignore[import-not-found]

        self._enc_cls, self._dec_cls = WatermarkEncoder, WatermarkDecoder

    @staticmethod
    def _bits(payload: int) -> list[int]:
        p = payload >> 16
        return [(p >> (47 - k)) & 1 for k in range(48)]

    def embed(self, img: np.ndarray, payload: int) -> np.ndarray:
        enc = self._enc_cls()
        enc.set_watermark("bits", self._bits(payload))
        bgr = img[..., ::-1].copy()
        return np.ascontiguousarray(enc.encode(bgr, "dwtDctSvd")[..., ::-1])

    def mark(self, img: np.ndarray, seed: int) -> tuple[np.ndarray, int]:
        """Its payloads are the caller's: the first drawn from the seed, as ours draws it."""
        payload = _payload_draws(seed)()
        return self.embed(img, payload), payload

    def read(self, img: np.ndarray, payload: int) -> tuple[float, bool]:
        if min(img.shape[:2]) < 256:
            return 0.5, False
        dec = self._dec_cls("bits", 48)
        got = [int(b) for b in dec.decode(np.ascontiguousarray(img[..., ::-1]), "dwtDctSvd")]
        ok = sum(int(a == b) for a, b in zip(got, self._bits(payload)))
        return ok / 48, ok == 48

    def detect(self, img: np.ndarray) -> object:
        """One decoding of the 48 bits (what the timing table measures)."""
        return self._dec_cls("bits", 48).decode(np.ascontiguousarray(img[..., ::-1]), "dwtDctSvd")


def _tries_summary(tries: list[int]) -> str:
    """'1 for 34 photos, 2 for 2, 4 for 1'."""
    counts = sorted(Counter(tries).items())
    parts = [f"{n} for {c}" for n, c in counts]
    return ", ".join([f"{parts[0]} photo{'s' if counts[0][1] != 1 else ''}", *parts[1:]]) if parts else "none"


def _timed(fn: Callable[[], object], repeats: int = 9) -> tuple[float, float, float]:
    """Median CPU time and wall time of fn in ms (CPU time is robust to other load on a shared machine), and its
    median count of minor page faults (memory the allocator had handed back, faulted in again)."""
    fn()
    cpu, wall, faults = [], [], []
    for _ in range(repeats):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        c, t = time.process_time(), time.perf_counter()
        fn()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - t) * 1000)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    return statistics.median(cpu), statistics.median(wall), statistics.median(faults)


#: Payloads per texture scan for the read-back count (textures are marginal: the outcome depends on the payload).
TEXTURE_PAYLOADS = 8


def texture_readback(photos: list[Path], imgs: list[np.ndarray]) -> str:
    """Per texture scan, of TEXTURE_PAYLOADS markings: how many read back exactly untouched, as sign marks (the
    payload carried best of a few) and with the first payload drawn alone."""
    counts = []
    for p, img in zip(photos, imgs, strict=True):
        if p.stem in TEXTURES:
            chosen = first = 0
            for j in range(TEXTURE_PAYLOADS):
                marked, payload = Ours().mark(img, 10_000 + j)
                chosen += int(detect_image(marked, KEY).carries(payload))
                single = _payload_draws(10_000 + j)()
                first += int(detect_image(embed_image(img, single, KEY), KEY).carries(single))
            counts.append(f"{p.stem} {chosen}/{TEXTURE_PAYLOADS} (first payload alone: {first}/{TEXTURE_PAYLOADS})")
    return ", ".join(counts) or "none"


def false_positives(photos: list[Path], n: int) -> tuple[int, int, float, int, int]:
    """Detections on n unmarked random crops/resizes of the photos, and on marked photos read with another key."""
    rng = np.random.default_rng(7)
    hits = 0
    min_p = 1.0
    fewest = (10**9, 0)
    for k in range(n):
        img = np.asarray(Image.open(photos[k % len(photos)]).convert("RGB"))
        h, w = img.shape[:2]
        f = rng.uniform(0.5, 1.0)
        ch, cw = max(256, int(h * rng.uniform(0.5, 1.0))), max(256, int(w * rng.uniform(0.5, 1.0)))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = img[y : y + ch, x : x + cw]
        if min(crop.shape[:2]) * f >= 256:
            crop = _resize(crop, f)
        if k % 4 == 1:
            crop = _codec(crop, "JPEG", 75)
        d = detect_image(crop, KEY)
        hits += d.detected
        min_p = min(min_p, d.p_value)
        if d.n_bits and d.bit_errors / d.n_bits < fewest[0] / max(1, fewest[1]):
            fewest = (d.bit_errors, d.n_bits)
    return hits, n, min_p, fewest[0], fewest[1]


def main() -> int:
    """Run the benchmark and write markdown rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N photos")
    parser.add_argument("--no-baseline", action="store_true", help="skip invisible-watermark")
    parser.add_argument("--fp", type=int, default=1000, help="unmarked images for the false-positive count")
    parser.add_argument("--attacks", nargs="*", help="only these attacks (names as in the table)")
    args = parser.parse_args()
    photos = build_photo_set()
    if args.limit:
        photos = photos[: args.limit]
    if not photos:
        print("no photos found: install lomiri-wallpapers-16.04, mate-backgrounds, opencv-doc", file=sys.stderr)
        return 2
    # Our embed timed while the process is fresh too: the allocator's state moves the figure (see the note it prints).
    mp1 = np.asarray(Image.open(photos[0]).convert("RGB").resize((1155, 866), Image.Resampling.LANCZOS))
    fresh_embed = _timed(lambda: Ours().embed(mp1, _payload(0)))
    methods: list = [Ours()]
    if not args.no_baseline:
        try:
            methods.append(DwtDctSvd())
        except ImportError:
            print("invisible-watermark not installed: baseline skipped", file=sys.stderr)
    attacks = {k: v for k, v in ATTACKS.items() if not args.attacks or k in args.attacks}
    imgs = [np.asarray(Image.open(p).convert("RGB")) for p in photos]
    results = {m.name: {a: [] for a in attacks} for m in methods}
    quality = {m.name: ([], []) for m in methods}
    other_key_hits = 0
    for m in methods:
        for photo, img in zip(photos, imgs, strict=True):
            marked, payload = m.mark(img, photo_seed(photo))
            quality[m.name][0].append(psnr(img, marked))
            quality[m.name][1].append(ssim(img, marked))
            for a, fn in attacks.items():
                results[m.name][a].append(m.read(fn(marked), payload))
            if isinstance(m, Ours):
                other_key_hits += detect_image(marked, OTHER_KEY).detected
        print(f"bench: {m.name} done", file=sys.stderr, flush=True)

    scenes = [k for k, p in enumerate(photos) if p.stem not in TEXTURES]
    header = ["Attack"] + [f"{m.name}: bit acc / exact / exact on {len(scenes)} scenes" for m in methods]
    rows = []
    for a in attacks:
        row = [a]
        for m in methods:
            r = results[m.name][a]
            exact_scenes = np.mean([r[k][1] for k in scenes]) if scenes else float("nan")
            n_exact = sum(bool(x[1]) for x in r)
            row.append(
                f"{100 * np.mean([x[0] for x in r]):.1f}% / {100 * n_exact / len(r):.1f}% ({n_exact}/{len(r)}) / "
                f"{100 * exact_scenes:.0f}%"
            )
        rows.append(row)
    rows.append(["PSNR dB (mean / min)"] + [f"{np.mean(quality[m.name][0]):.1f} / {np.min(quality[m.name][0]):.1f}" for m in methods])
    rows.append(["SSIM (mean / min)"] + [f"{np.mean(quality[m.name][1]):.4f} / {np.min(quality[m.name][1]):.4f}" for m in methods])

    timing = []
    for m in methods:
        marked = m.embed(mp1, _payload(0))
        rotated = _rotate(marked, 5)
        timing.append(
            (m.name, _timed(lambda: m.embed(mp1, _payload(0))), _timed(lambda: m.detect(marked)), _timed(lambda: m.detect(rotated)),
             _timed(lambda: m.detect(mp1)))
        )
    fp_hits, fp_n, fp_min_p, fp_err, fp_bits = false_positives(photos, args.fp)
    from provguard.watermark import image as wm_image
    from provguard.watermark.payload import false_positive_probability

    n_trials = wm_image.max_decodings()
    allowed = max(k for k in range(fp_bits + 1) if 2 * false_positive_probability(fp_bits, k, n_trials=n_trials) <= 1e-6)

    sizes = sorted({f"{im.shape[1]}x{im.shape[0]}" for im in imgs})
    body = (
        f"{len(imgs)} real photos ({', '.join(sizes[:6])}{', ...' if len(sizes) > 6 else ''}), each marked as "
        f"`provguard sign` marks it: with the fresh random payload it carries best of up to {PAYLOAD_TRIES} (payloads "
        f"drawn per photo: {_tries_summary(methods[0].tries)}; invisible-watermark gets the first one drawn); "
        "'exact' = the detector reports the exact payload (ours: p-value <= 1e-6, a bound over all 2^64 payloads and "
        f"the {wm_image.max_decodings()} readings the detector may decode; geometry and offset are chosen by the sync "
        "chips, which are disjoint from the payload chips).\n\n"
        + table(header, rows)
        + "\n\n"
        + table(
            ["Method (1155x866 = 1.0 MP, one thread)", "embed ms CPU (wall)", "detect ms CPU (wall)",
             "detect after 5 deg rotation ms CPU (wall)", "detect on the unmarked photo ms CPU (wall)"],
            [[n, f"{e[0]:.0f} ({e[1]:.0f})", f"{d[0]:.0f} ({d[1]:.0f})", f"{r[0]:.0f} ({r[1]:.0f})", f"{u[0]:.0f} ({u[1]:.0f})"]
             for n, e, d, r, u in timing],
        )
        + "\n\nOn the unmarked photo the nominal reading finds no sync, so our detector searches every geometry (rotation, "
        "rescale, crop) before it answers 'not marked': the per-image cost of scanning content that was never marked."
        + f"\n\nOur embed timed also at the start of the run, before the robustness loop: {fresh_embed[0]:.0f} ms CPU "
        f"({fresh_embed[1]:.0f} wall). The two timings differ by the C allocator's state, not by the computation: "
        "where it has handed large freed buffers back to the system, every call faults its megapixel buffers in "
        f"again ({fresh_embed[2]:.0f} minor page faults per call at the start, {timing[0][1][2]:.0f} in the table's run)."
        + f"\n\nFalse positives (ours, fpr 1e-6): {fp_hits} of {fp_n} unmarked random crops/resizes/JPEGs of the photos "
        f"(smallest p-value {fp_min_p:.2g}; closest reading {fp_err} bit errors of {fp_bits}, where the bit-error test alone "
        f"allows at most {allowed}); marked photos read with another key: {other_key_hits} of {len(imgs)} detected. "
        f"Texture scans in the set: {', '.join(sorted(TEXTURES))}; marked {TEXTURE_PAYLOADS} times each, untouched, "
        f"the exact payload reads back from {texture_readback(photos, imgs)} (on busy texture the host's own readout "
        f"helps some payloads and fights others: the table's one marking per photo can be lucky or unlucky there; the "
        f"{len(scenes)} scenes read back every time).\n"
    )
    cmd = "python -m bench.bench_watermark_image --out FILE" + (f" --limit {args.limit}" if args.limit else "")
    text = section("Image watermark", cmd, body)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
