"""Benchmark: the image/video reference generator (shipped weights): test-split PSNR, speed, training time.

Quality: autoencoder reconstruction PSNR on the corpus TEST split (photos the models never saw), on centre crops of
at most 512 px, and on whole photos through tiled (256 px, feathered) reconstruction. Speed: unconditional 256x256
samples per second (DDIM, default steps), reconstruction megapixels per second, and the video real-time factor
(seconds of compute per second of video, 24 frames at 12 fps, 256 px). Training time comes from the training log
written beside the weights (provguard/generate/weights/image_training.json).

Run: python -m bench.bench_generate_image --out FILE [--corpus DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.common import emit, section, table

if TYPE_CHECKING:
    from PIL import Image


def _training_rows() -> list[list[object]]:
    """Rows from the training log: budget, steps and wall time per stage."""
    from provguard.generate.weights_io import weights_dir

    path = weights_dir() / "image_training.json"
    if not path.exists():
        return [["training log", "missing (run `provguard generate train image`)"]]
    info = json.loads(path.read_text())
    return [
        ["training command", f"`{info['command']}`"],
        ["training date", info["date"]],
        ["training threads", info["threads"]],
        ["autoencoder", f"{info['ae_steps']} steps, {info['ae_seconds'] / 60:.1f} min, {info['ae_params']:,} params, "
                        f"{info['ae_bytes'] / 1e6:.2f} MB"],
        ["latent extraction", f"{info['latent_seconds'] / 60:.1f} min"],
        ["DiT", f"{info['dit_steps']} steps, {info['dit_seconds'] / 60:.1f} min, {info['dit_params']:,} params, "
                f"{info['dit_bytes'] / 1e6:.2f} MB"],
        ["total training wall time", f"{info['total_seconds'] / 60:.1f} min (budget {info['minutes']:g} min)"],
        ["train photos", info["n_train"]],
        ["PSNR at training time (test split, crops)", f"{info['psnr']['psnr_mean']:.2f} dB"],
    ]


def _label(img: Image.Image, text: str) -> Image.Image:
    """Return the tile with a caption bar on top."""
    from PIL import Image, ImageDraw

    out = Image.new("RGB", (img.width, img.height + 16), "white")
    out.paste(img, (0, 16))
    ImageDraw.Draw(out).text((3, 2), text, fill="black")
    return out


def residual_spectrum(reals: list[np.ndarray], fakes: list[np.ndarray]) -> np.ndarray:
    """Mean log-magnitude spectrum (uint8, centred) of the grey residual fake - real: the generator's fingerprint."""
    acc = None
    for real, fake in zip(reals, fakes):
        diff = fake.astype(np.float64).mean(axis=2) - real.astype(np.float64).mean(axis=2)
        mag = np.abs(np.fft.fftshift(np.fft.fft2(diff - diff.mean())))
        acc = mag if acc is None else acc + mag
    spec = np.log1p(acc)
    spec = (spec - np.percentile(spec, 1)) / (np.percentile(spec, 99.9) - np.percentile(spec, 1))
    return (np.clip(spec, 0, 1) * 255).astype(np.uint8)


def sample_sheet(path: Path, test: list, *, tiles: int = 4, frames: int = 6) -> None:
    """Write a PNG grid: real test crops, their reconstructions, DiT samples, the residual spectrum, video frames."""
    from PIL import Image

    from provguard.generate import image, video
    from provguard.generate.autoencoder import reconstruct_array
    from provguard.generate.train_image import center_crop

    size = 256
    reals = [center_crop(p.pixels, size) for p in test if min(p.pixels.shape[:2]) >= size][:tiles]
    recons = [reconstruct_array(image._autoencoder(), r) for r in reals]
    samples = image.sample_images(tiles, size=size, seed=0)
    spectrum = residual_spectrum(reals, recons)
    rows = [
        [_label(Image.fromarray(r), f"real (test split) {i + 1}") for i, r in enumerate(reals)],
        [_label(Image.fromarray(r), f"AE reconstruction {i + 1}") for i, r in enumerate(recons)],
        [_label(Image.fromarray(s), f"DiT sample seed {i}") for i, s in enumerate(samples)],
    ]
    moving = video.make_video_frames(source=None, frames=frames, seed=0)
    strip_size = (size * tiles) // frames
    strip = [_label(Image.fromarray(f).resize((strip_size, strip_size), Image.Resampling.LANCZOS), f"video frame {k}")
             for k, f in enumerate(moving)]
    spec_tile = _label(Image.fromarray(spectrum).convert("RGB"), "residual |FFT| (recon - real)")
    width = max(size * tiles, strip_size * frames) + spec_tile.width + 8
    height = 3 * (size + 16) + strip_size + 16 + 8
    sheet = Image.new("RGB", (width, height), "white")
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * size, r * (size + 16)))
    for k, tile in enumerate(strip):
        sheet.paste(tile, (k * strip_size, 3 * (size + 16) + 8))
    sheet.paste(spec_tile, (size * tiles + 8, size + 16))
    import io

    from provguard.fileio import atomic_write

    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue())


def main() -> int:
    """Run the benchmark and write markdown."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, default=None, help="corpus directory (default: the user data dir)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N test photos")
    parser.add_argument("--sheet", type=Path, default=None, help="also write the sample sheet PNG here (docs/samples.png)")
    args = parser.parse_args()

    import torch

    from provguard.generate import image, video
    from provguard.generate.autoencoder import reconstruct_array
    from provguard.generate.train_image import center_crop, corpus_photos, psnr

    threads = torch.get_num_threads()
    rows: list[list[object]] = []
    test = corpus_photos("test", args.corpus)
    if args.limit:
        test = test[: args.limit]
    model = image._autoencoder()
    crop_psnr, full_psnr, pixels, seconds = [], [], 0, 0.0
    for photo in test:
        crop = center_crop(photo.pixels)
        crop_psnr.append(psnr(crop, reconstruct_array(model, crop)))
        start = time.perf_counter()
        recon = reconstruct_array(model, photo.pixels, tile=256, overlap=32)
        seconds += time.perf_counter() - start
        pixels += photo.pixels.shape[0] * photo.pixels.shape[1]
        full_psnr.append(psnr(photo.pixels, recon))
    rows.append(["test photos", f"{len(test)} ({', '.join(sorted({p.source for p in test}))})"])
    rows.append(["AE reconstruction PSNR, test split, 512 px centre crops",
                 f"{statistics.mean(crop_psnr):.2f} dB (min {min(crop_psnr):.2f}, max {max(crop_psnr):.2f})"])
    rows.append(["AE reconstruction PSNR, test split, whole photos (tiled 256 px)",
                 f"{statistics.mean(full_psnr):.2f} dB"])
    rows.append(["tiled reconstruction speed", f"{pixels / 1e6 / seconds:.2f} MP/s"])

    image.sample_images(1, size=256, seed=99, steps=2)  # warm-up
    start = time.perf_counter()
    n = 3
    samples = image.sample_images(n, size=256, seed=0)
    elapsed = time.perf_counter() - start
    rows.append([f"unconditional sampling, 256x256, {image.DEFAULT_STEPS} DDIM steps",
                 f"{n / elapsed:.3f} images/s ({elapsed / n:.2f} s/image)"])
    rows.append(["sample pixel std (not flat)", f"{np.mean([s.std() for s in samples]):.1f}"])

    frames, fps = 24, 12
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        video.generate_video(Path(tmp) / "v.mp4", frames=frames, fps=fps, seed=0, no_sign=True)
        elapsed = time.perf_counter() - start
    rows.append([f"video, {frames} frames at {fps} fps, 256x256, sampled still, unsigned",
                 f"{elapsed:.1f} s, real-time factor {elapsed / (frames / fps):.1f}x"])
    rows += _training_rows()
    body = f"torch threads: {threads}\n\n" + table(["metric", "value"], rows)
    if args.sheet is not None:
        sample_sheet(args.sheet, test)
    cmd = "python -m bench.bench_generate_image --out FILE" + (f" --limit {args.limit}" if args.limit else "")
    text = section("Image and video reference generator", cmd, body)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
