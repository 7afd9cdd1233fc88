"""Train the image generator (autoencoder, then DiT on its latents) on the corpus photos; write weights and cards."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from provguard.errors import InputError
from provguard.fileio import atomic_write

#: Longest side a training photo is kept at (larger ones are downscaled once, on load).
MAX_TRAIN_SIDE = 1024
#: Longest side photos are encoded at to make the DiT's latent training set.
LATENT_SIDE = 512
#: Centre crop (pixels, square) that the test-split PSNR is measured on.
EVAL_CROP = 512
#: Default training budget in minutes for both models together, and the autoencoder's and DiT's shares of it.
DEFAULT_MINUTES = 25.0
AE_SHARE, DIT_SHARE = 0.56, 0.36
#: Optimizer steps per minute measured on the reference machine (1 torch thread on a 2-core VM with another job on the
#: other core: 190 and 165 measured, ~10% margin kept); fixed so that the seed alone fixes the weights.
AE_STEPS_PER_MINUTE = 170.0
DIT_STEPS_PER_MINUTE = 150.0
#: Torch threads for training (2 threads ran 3-7x slower than 1 while another job held one of the two cores).
DEFAULT_THREADS = 1
#: Batch and crop sizes.
AE_BATCH, AE_PATCH = 8, 64
DIT_BATCH, DIT_CROP = 16, 16
#: Loss weights: image-gradient L1, FFT-magnitude L1, KL.
GRAD_WEIGHT, FFT_WEIGHT, KL_WEIGHT = 0.5, 0.05, 1e-6
TRAIN_COMMAND = "provguard generate train image --seed {seed} --minutes {minutes:g} --threads {threads}"


@dataclass(frozen=True)
class Photo:
    """A decoded photo and where it came from."""

    pixels: np.ndarray
    name: str
    source: str
    license: str


def load_photos(paths: Sequence[Path], *, max_side: int = MAX_TRAIN_SIDE, sources: Sequence[tuple[str, str]] | None = None) -> list[Photo]:
    """Decode photos to uint8 RGB, downscaling any longer than max_side."""
    from PIL import Image

    photos = []
    for index, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                scale = max_side / max(img.size)
                if scale < 1.0:
                    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)
                pixels = np.asarray(img)
        except (OSError, ValueError) as exc:
            raise InputError(f"training photo {path} cannot be decoded: {exc}") from exc
        source, lic = sources[index] if sources else ("local", "unknown")
        photos.append(Photo(pixels, Path(path).name, source, lic))
    return photos


def corpus_photos(split: str, corpus_dir: Path | None = None) -> list[Photo]:
    """The corpus photos of one split (train for fitting, test for metrics)."""
    from provguard.generate.corpus import default_corpus_dir, load_corpus

    directory = Path(corpus_dir) if corpus_dir is not None else default_corpus_dir()
    items = sorted((i for i in load_corpus(directory) if i.kind == "photo" and i.split == split), key=lambda i: i.path)
    if not items:
        raise InputError(f"the corpus at {directory} holds no {split} photos; run `provguard corpus build`")
    return load_photos([directory / i.path for i in items], sources=[(i.source, i.license) for i in items])


class PatchSampler:
    """Random crops (with random horizontal flips) of a photo set, seeded."""

    def __init__(self, photos: Sequence[np.ndarray], patch: int, seed: int) -> None:
        self.photos = [p for p in photos if min(p.shape[:2]) >= patch]
        if not self.photos:
            raise InputError(f"no training photo is at least {patch} px on its short side")
        self.patch = patch
        self.rng = np.random.default_rng(seed)
        area = np.array([math.sqrt(p.shape[0] * p.shape[1]) for p in self.photos])
        self.weights = area / area.sum()

    def batch(self, n: int) -> np.ndarray:
        """n crops as uint8 (n, patch, patch, 3)."""
        out = np.empty((n, self.patch, self.patch, 3), np.uint8)
        for i in range(n):
            img = self.photos[int(self.rng.choice(len(self.photos), p=self.weights))]
            y = int(self.rng.integers(0, img.shape[0] - self.patch + 1))
            x = int(self.rng.integers(0, img.shape[1] - self.patch + 1))
            crop = img[y : y + self.patch, x : x + self.patch]
            out[i] = crop[:, ::-1] if self.rng.random() < 0.5 else crop
        return out


@contextlib.contextmanager
def torch_settings(seed: int, threads: int) -> Iterator[None]:
    """Seed torch, pin the thread count and ask for deterministic kernels; restore the previous settings after."""
    import torch

    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def _lr(step: int, total: int, peak: float, warmup: int = 50) -> float:
    """Linear warm-up then cosine decay to 5% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def reconstruction_loss(recon: Any, target: Any) -> Any:
    """L1 on pixels, on image gradients, and on FFT magnitudes (keeps fine texture)."""
    import torch
    from torch.nn import functional as F

    l1 = F.l1_loss(recon, target)
    grad = F.l1_loss(recon.diff(dim=-1), target.diff(dim=-1)) + F.l1_loss(recon.diff(dim=-2), target.diff(dim=-2))
    fft = F.l1_loss(torch.fft.rfft2(recon, norm="ortho").abs(), torch.fft.rfft2(target, norm="ortho").abs())
    return l1 + GRAD_WEIGHT * grad + FFT_WEIGHT * fft


def train_autoencoder(photos: Sequence[np.ndarray], *, steps: int, seed: int = 0, threads: int = DEFAULT_THREADS,
                      progress: Callable[[str], None] | None = None) -> Any:
    """Fit the autoencoder on random patches; returns the model (eval mode, latent_scale still 1)."""
    from provguard.generate.autoencoder import Autoencoder

    with torch_settings(seed, threads):
        return _fit_autoencoder(Autoencoder(), photos, steps, seed, progress)


def _fit_autoencoder(model: Any, photos: Sequence[np.ndarray], steps: int, seed: int,
                     progress: Callable[[str], None] | None) -> Any:
    """The autoencoder's training loop."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    sampler = PatchSampler(photos, AE_PATCH, seed)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, 1e-3)
        x = torch.from_numpy(sampler.batch(AE_BATCH)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
        recon, mean, logvar = model(x, gen)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=(1, 2, 3)).mean()
        loss = reconstruction_loss(recon, x) + KL_WEIGHT * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress and (step % 100 == 0 or step == steps - 1):
            progress(f"autoencoder step {step + 1}/{steps} loss {loss.item():.4f} ({time.perf_counter() - start:.0f} s)")
    return model.eval()


def latent_maps(model: Any, photos: Sequence[np.ndarray], *, side: int = LATENT_SIDE) -> list[Any]:
    """Encode each photo (downscaled to `side` long edge) to its posterior-mean latent; sets model.latent_scale."""
    import torch
    from PIL import Image

    from provguard.generate.autoencoder import encode_image

    model.latent_scale.fill_(1.0)
    maps = []
    for pixels in photos:
        img = Image.fromarray(pixels)
        scale = min(1.0, side / max(img.size))
        if scale < 1.0:
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
        arr = np.asarray(img)
        h, w = (arr.shape[0] // 8) * 8, (arr.shape[1] // 8) * 8
        if min(h, w) >= 8 * DIT_CROP:
            maps.append(encode_image(model, arr[:h, :w]))
    if not maps:
        raise InputError("no photo is large enough to make DiT training latents")
    std = torch.cat([m.flatten() for m in maps]).std()
    model.latent_scale.fill_(float(1.0 / std))
    return [m / std for m in maps]


def train_dit(maps: Sequence[Any], *, steps: int, seed: int = 0, threads: int = DEFAULT_THREADS,
              progress: Callable[[str], None] | None = None) -> Any:
    """Fit the DiT on random (flipped) crops of the scaled latent maps; returns the model in eval mode."""
    from provguard.generate.dit import DiT

    with torch_settings(seed + 1, threads):
        return _fit_dit(DiT(), maps, steps, seed, progress)


def _fit_dit(model: Any, maps: Sequence[Any], steps: int, seed: int, progress: Callable[[str], None] | None) -> Any:
    """The DiT's training loop (EMA weights are copied in at the end)."""
    import torch

    from provguard.generate.dit import diffusion_loss

    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.0, betas=(0.9, 0.99))
    rng = np.random.default_rng(seed + 1)
    gen = torch.Generator().manual_seed(seed + 1)
    ema = [p.detach().clone() for p in model.parameters()]
    decay = 0.995
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, 5e-4)
        crops = []
        for _ in range(DIT_BATCH):
            m = maps[int(rng.integers(len(maps)))][0]
            y = int(rng.integers(0, m.shape[1] - DIT_CROP + 1))
            x = int(rng.integers(0, m.shape[2] - DIT_CROP + 1))
            crop = m[:, y : y + DIT_CROP, x : x + DIT_CROP]
            crops.append(crop.flip(-1) if rng.random() < 0.5 else crop)
        loss = diffusion_loss(model, torch.stack(crops), gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(decay, (step + 1) / (step + 10))
            for e, p in zip(ema, model.parameters()):
                e.mul_(d).add_(p.detach(), alpha=1 - d)
        if progress and (step % 100 == 0 or step == steps - 1):
            progress(f"dit step {step + 1}/{steps} loss {loss.item():.4f} ({time.perf_counter() - start:.0f} s)")
    with torch.no_grad():
        for e, p in zip(ema, model.parameters()):
            p.copy_(e)
    return model.eval()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def center_crop(pixels: np.ndarray, size: int = EVAL_CROP) -> np.ndarray:
    """The centred crop of at most size x size, trimmed to multiples of 8."""
    h, w = pixels.shape[:2]
    ch, cw = (min(h, size) // 8) * 8, (min(w, size) // 8) * 8
    y, x = (h - ch) // 2, (w - cw) // 2
    return pixels[y : y + ch, x : x + cw]


def evaluate_psnr(model: Any, photos: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean, min and max reconstruction PSNR over centre crops of the given photos."""
    from provguard.generate.autoencoder import reconstruct_array

    values = []
    for pixels in photos:
        crop = center_crop(pixels)
        if min(crop.shape[:2]) >= 64:
            values.append(psnr(crop, reconstruct_array(model, crop)))
    if not values:
        raise InputError("no evaluation photo is at least 64 px")
    return {"psnr_mean": float(np.mean(values)), "psnr_min": float(np.min(values)), "psnr_max": float(np.max(values)), "n": len(values)}


def _param_count(model: Any) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters())


def _card(title: str, body: list[str], info: dict[str, Any]) -> str:
    """Render a model card in markdown."""
    sources = ", ".join(f"{s} ({n} photos)" for s, n in sorted(info["sources"].items()))
    lines = [
        f"# {title}", "",
        *body, "",
        "## Training", "",
        f"- data: corpus photos, **train split only** ({info['n_train']} photos): {sources}",
        f"- licenses: {', '.join(sorted(set(info['licenses'])))}",
        f"- evaluation: corpus **test split** ({info['n_test']} photos, never seen in training)",
        f"- seed {info['seed']}, {info['threads']} threads, budget {info['minutes']:g} min "
        f"(autoencoder {info['ae_steps']} steps, DiT {info['dit_steps']} steps)",
        f"- wall time: autoencoder {info['ae_seconds'] / 60:.1f} min, latents {info['latent_seconds'] / 60:.1f} min, "
        f"DiT {info['dit_seconds'] / 60:.1f} min, total {info['total_seconds'] / 60:.1f} min",
        f"- date: {info['date']}",
        f"- reproduce: `{info['command']}`", "",
        "## Metrics", "",
        f"- autoencoder reconstruction PSNR on test-split centre crops ({EVAL_CROP} px): "
        f"{info['psnr']['psnr_mean']:.2f} dB mean (min {info['psnr']['psnr_min']:.2f}, max {info['psnr']['psnr_max']:.2f}, "
        f"{info['psnr']['n']} photos)",
        "",
    ]
    return "\n".join(lines)


def train_image_models(*, seed: int = 0, minutes: float = DEFAULT_MINUTES, corpus_dir: Path | None = None,
                       out_dir: Path | None = None, progress: Callable[[str], None] | None = None, threads: int = DEFAULT_THREADS,
                       train_photos: list[Photo] | None = None, test_photos: list[Photo] | None = None,
                       ae_steps: int | None = None, dit_steps: int | None = None) -> dict[str, Any]:
    """Train the autoencoder then the DiT within `minutes` (fixed step counts), write weights, cards, a log; return metrics."""
    from provguard.generate import autoencoder as ae_mod
    from provguard.generate import dit as dit_mod
    from provguard.generate.weights_io import save_weights, weights_dir

    if minutes <= 0:
        raise InputError("--minutes must be positive")
    total_start = time.perf_counter()
    train = train_photos if train_photos is not None else corpus_photos("train", corpus_dir)
    test = test_photos if test_photos is not None else corpus_photos("test", corpus_dir)
    ae_steps = ae_steps or max(1, round(minutes * AE_SHARE * AE_STEPS_PER_MINUTE))
    dit_steps = dit_steps or max(1, round(minutes * DIT_SHARE * DIT_STEPS_PER_MINUTE))
    say = progress or (lambda _msg: None)
    say(f"training on {len(train)} photos: autoencoder {ae_steps} steps, DiT {dit_steps} steps")

    t0 = time.perf_counter()
    ae = train_autoencoder([p.pixels for p in train], steps=ae_steps, seed=seed, threads=threads, progress=progress)
    ae_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch_settings(seed, threads):
        maps = latent_maps(ae, [p.pixels for p in train])
    latent_seconds = time.perf_counter() - t0
    say(f"encoded {len(maps)} latent maps, latent scale {float(ae.latent_scale):.4f}")
    t0 = time.perf_counter()
    dit = train_dit(maps, steps=dit_steps, seed=seed, threads=threads, progress=progress)
    dit_seconds = time.perf_counter() - t0
    with torch_settings(seed, threads):
        metrics = evaluate_psnr(ae, [p.pixels for p in test])
    say(f"test PSNR {metrics['psnr_mean']:.2f} dB")

    target = Path(out_dir) if out_dir is not None else weights_dir()
    target.mkdir(parents=True, exist_ok=True)
    ae_path = save_weights(ae_mod.state_for_saving(ae), ae_mod.WEIGHTS_NAME, target)
    dit_path = save_weights(dit_mod.state_for_saving(dit), dit_mod.WEIGHTS_NAME, target)
    sources: dict[str, int] = {}
    for p in train:
        sources[p.source] = sources.get(p.source, 0) + 1
    info: dict[str, Any] = {
        "seed": seed, "minutes": minutes, "threads": threads, "ae_steps": ae_steps, "dit_steps": dit_steps,
        "ae_seconds": ae_seconds, "latent_seconds": latent_seconds, "dit_seconds": dit_seconds,
        "total_seconds": time.perf_counter() - total_start, "psnr": metrics, "n_train": len(train), "n_test": len(test),
        "sources": sources, "licenses": [p.license for p in train],
        "train_files": [p.name for p in train], "test_files": [p.name for p in test],
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": TRAIN_COMMAND.format(seed=seed, minutes=minutes, threads=threads),
        "ae_params": _param_count(ae), "dit_params": _param_count(dit),
        "ae_bytes": ae_path.stat().st_size, "dit_bytes": dit_path.stat().st_size,
        "latent_scale": float(ae.latent_scale),
    }
    info["ae_widths"] = list(ae.config.widths)
    info["dit_config"] = {k: getattr(dit.config, k) for k in ("patch", "width", "depth", "heads", "mlp_ratio")}
    write_model_cards(target, info)
    say(f"wrote {ae_path} and {dit_path} in {info['total_seconds'] / 60:.1f} min")
    return info


def write_model_cards(target: Path, info: dict[str, Any]) -> None:
    """Write autoencoder.md, dit.md and image_training.json beside the weights from a training log."""
    from provguard.generate.image import AE_MODEL_NAME, DIT_MODEL_NAME, MODEL_VERSION

    ae_body = [
        f"`{AE_MODEL_NAME}@{MODEL_VERSION}`: latent autoencoder, 8x downsampling to 4 channels "
        f"(diagonal-Gaussian posterior, KL weight {KL_WEIGHT:g}; reconstructions sample it with the seed).",
        f"Encoder: stride-2 3x3 convs with residual 3x3 blocks, widths {tuple(info['ae_widths'])}. Decoder: residual 3x3 "
        "blocks with **ConvTranspose2d (k4 s2) learned upsampling** three times (the checkerboard/periodic spectral "
        "fingerprint of latent-diffusion decoders). Both sides have a linear shortcut per 8x8 cell (space-to-channel "
        "in, a learned k8 s8 transposed conv out) that carries colour and tone from the first step.",
        f"{info['ae_params']:,} parameters, float16, {info['ae_bytes'] / 1e6:.2f} MB. Latent scale "
        f"{info['latent_scale']:.4f} (unit variance on the train split).",
        f"Loss: L1 + {GRAD_WEIGHT:g} image-gradient L1 + {FFT_WEIGHT:g} FFT-magnitude L1 + KL; random {AE_PATCH} px "
        f"crops with horizontal flips, batch {AE_BATCH}, Adam 1e-3 with warm-up and cosine decay.",
        "Large inputs are reconstructed in overlapping 512 px tiles blended with linear feathering (bounded memory).",
    ]
    cfg = info["dit_config"]
    dit_body = [
        f"`{DIT_MODEL_NAME}@{MODEL_VERSION}`: diffusion transformer on the autoencoder's latents (see autoencoder.md).",
        f"Patch {cfg['patch']}, width {cfg['width']}, depth {cfg['depth']}, {cfg['heads']} heads, MLP ratio "
        f"{cfg['mlp_ratio']}, adaLN-Zero timestep conditioning, depthwise-conv position code (works on any latent grid). "
        f"{info['dit_params']:,} parameters, float16, {info['dit_bytes'] / 1e6:.2f} MB.",
        f"DDPM training with v-prediction on a cosine schedule, random {DIT_CROP}x{DIT_CROP} latent crops "
        f"({DIT_CROP * 8} px) with flips, of train photos encoded at {LATENT_SIDE} px long side; batch {DIT_BATCH}, "
        "AdamW 5e-4, EMA 0.995 weights.",
        "Sampling: deterministic DDIM (eta 0, 30 steps by default). A 256 px image samples a 32x32 latent grid "
        "directly (larger sizes: larger grids, up to 1024 px); the tiny model makes texture-like images, not scenes.",
        "Video (`provguard-latent-video`) reuses both models: camera pan/zoom on a still's latent, then each frame is "
        "noised to t=0.25 and denoised in 4 DDIM steps.",
    ]
    atomic_write(target / "autoencoder.md", _card("Image latent autoencoder", ae_body, info).encode())
    atomic_write(target / "dit.md", _card("Image diffusion transformer", dit_body, info).encode())
    atomic_write(target / "image_training.json", (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())
