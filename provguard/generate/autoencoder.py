"""The latent autoencoder: 8x conv encoder (KL posterior) and a transposed-conv decoder, with tiled use."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from provguard.errors import InputError

#: Weight file name (provguard/generate/weights/autoencoder.pt).
WEIGHTS_NAME = "autoencoder"
#: Pixels per latent cell along each axis.
DOWNSAMPLE = 8


@dataclass(frozen=True)
class AEConfig:
    """Widths of the three scales (full, 1/2, 1/4 then 1/8) and the latent channel count."""

    widths: tuple[int, int, int, int] = (32, 48, 96, 128)
    latent_channels: int = 4


class Residual(nn.Module):
    """x + conv3x3(SiLU(x)): one conv per block, with a straight path for the gradient."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the block's residual."""
        return x + self.conv(F.silu(x))


class Autoencoder(nn.Module):
    """Conv encoder to a diagonal Gaussian latent at 1/8 scale; decoder upsamples with ConvTranspose2d."""

    def __init__(self, config: AEConfig = AEConfig()) -> None:
        super().__init__()
        w0, w1, w2, w3 = config.widths
        zc = config.latent_channels
        self.config = config
        self.encoder = nn.Sequential(
            nn.Conv2d(3, w0, 3, padding=1), nn.SiLU(),
            nn.Conv2d(w0, w1, 3, stride=2, padding=1), Residual(w1),
            nn.SiLU(), nn.Conv2d(w1, w2, 3, stride=2, padding=1), Residual(w2),
            nn.SiLU(), nn.Conv2d(w2, w3, 3, stride=2, padding=1), Residual(w3),
            nn.SiLU(), nn.Conv2d(w3, 2 * zc, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(zc, w3, 3, padding=1), Residual(w3),
            nn.SiLU(), nn.ConvTranspose2d(w3, w2, 4, stride=2, padding=1), Residual(w2),
            nn.SiLU(), nn.ConvTranspose2d(w2, w1, 4, stride=2, padding=1), Residual(w1),
            nn.SiLU(), nn.ConvTranspose2d(w1, w0, 4, stride=2, padding=1),
            nn.SiLU(), nn.Conv2d(w0, 3, 3, padding=1),
        )
        # Linear shortcuts over each 8x8 cell (space-to-channel in, learned k8 s8 transposed conv out) carry colour and
        # coarse tone from the first step; the deep paths add detail (cf. the residual shortcuts of DC-AE).
        self.encoder_skip = nn.Conv2d(3 * DOWNSAMPLE**2, 2 * zc, 1)
        self.decoder_skip = nn.ConvTranspose2d(zc, 3, DOWNSAMPLE, stride=DOWNSAMPLE)
        with torch.no_grad():  # start with a small posterior variance so the decoder learns to read the latent
            self.encoder[-1].bias[zc:].fill_(-6.0)
        # Latents are multiplied by this before the diffusion model sees them (unit variance on the train split).
        self.register_buffer("latent_scale", torch.ones(()))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map images in [-1, 1] (N,3,H,W; H,W multiples of 8) to the posterior mean and log-variance."""
        stats = self.encoder(x) + self.encoder_skip(F.pixel_unshuffle(x, DOWNSAMPLE))
        mean, logvar = stats.chunk(2, dim=1)
        return mean, logvar.clamp(-20.0, 10.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map (unscaled) latents to images in about [-1, 1]."""
        return self.decoder(z) + self.decoder_skip(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, sample the posterior, decode; return the reconstruction, mean and log-variance."""
        mean, logvar = self.encode(x)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * noise
        return self.decode(z), mean, logvar


def state_for_saving(model: Autoencoder) -> dict:
    """The state dict plus the architecture config, ready for weights_io.save_weights."""
    state = dict(model.state_dict())
    state["config"] = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(model.config).items()}
    return state


def from_state(state: dict) -> Autoencoder:
    """Rebuild an Autoencoder in eval mode from a state saved with state_for_saving."""
    cfg = dict(state.get("config") or {})
    config = AEConfig(widths=tuple(cfg.get("widths", AEConfig.widths)), latent_channels=int(cfg.get("latent_channels", 4)))
    model = Autoencoder(config)
    model.load_state_dict({k: v for k, v in state.items() if k != "config"})
    return model.eval()


def load_autoencoder() -> Autoencoder:
    """Load the shipped autoencoder (MissingWeightsError with a train hint when absent)."""
    from provguard.generate.weights_io import load_weights

    return from_state(load_weights(WEIGHTS_NAME))


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float tensor 1x3xHxW in [-1, 1]."""
    return torch.from_numpy(np.array(pixels, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """Float tensor (1,)3xHxW in [-1, 1] -> uint8 HxWx3, rounded."""
    img = images[0] if images.dim() == 4 else images
    return img.clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def _ramp(length: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    """1-D feather weights: linear ramps over the overlap at inner edges, 1 elsewhere."""
    w = np.ones(length, np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not first:
            w[:overlap] = np.minimum(w[:overlap], ramp)
        if not last:
            w[-overlap:] = np.minimum(w[-overlap:], ramp[::-1])
    return w


def _starts(size: int, tile: int, overlap: int, align: int) -> list[int]:
    """Evenly spread tile origins covering [0, size), neighbours sharing at least `overlap`, aligned to `align`."""
    if size <= tile:
        return [0]
    stride = max(align, tile - overlap - align)
    count = math.ceil((size - tile) / stride) + 1
    last = ((size - tile) // align) * align
    return sorted({(round(i * last / (count - 1)) // align) * align for i in range(count)} | {last})


def run_tiled(
    array: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], *, tile: int, overlap: int, scale: float, align: int = 1
) -> torch.Tensor:
    """Apply a spatial fn (output scale `scale` times input) over overlapping tiles, blended with feathered weights."""
    _, _, h, w = array.shape
    th, tw = min(tile, h), min(tile, w)
    ys, xs = _starts(h, th, overlap, align), _starts(w, tw, overlap, align)
    out: torch.Tensor | None = None
    weight = None
    for yi, y in enumerate(ys):
        for xi, x in enumerate(xs):
            piece = fn(array[:, :, y : y + th, x : x + tw])
            if out is None:
                out = torch.zeros(piece.shape[0], piece.shape[1], int(h * scale), int(w * scale))
                weight = torch.zeros(1, 1, int(h * scale), int(w * scale))
            ph, pw = piece.shape[-2:]
            ov = int(overlap * scale)
            wy = _ramp(ph, min(ov, ph // 2), yi == 0, yi == len(ys) - 1)
            wx = _ramp(pw, min(ov, pw // 2), xi == 0, xi == len(xs) - 1)
            mask = torch.from_numpy(np.outer(wy, wx))[None, None]
            oy, ox = int(y * scale), int(x * scale)
            out[:, :, oy : oy + ph, ox : ox + pw] += piece * mask
            weight[:, :, oy : oy + ph, ox : ox + pw] += mask  # type: ignore[index]
    assert out is not None and weight is not None
    return out / weight.clamp_min(1e-6)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad the bottom/right of N,C,H,W to a multiple; return it and the original H, W."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w


def encode_image(model: Autoencoder, pixels: np.ndarray, *, tile: int = 512, overlap: int = 64,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Encode uint8 RGB to a scaled latent 1x4x(H/8)x(W/8), tiled; sampled from the posterior when a generator is given."""
    if tile < 64 or tile % DOWNSAMPLE:
        raise InputError(f"tile must be a multiple of {DOWNSAMPLE} and at least 64, got {tile}")
    x, _, _ = pad_to_multiple(to_tensor(pixels), DOWNSAMPLE)

    def enc(piece: torch.Tensor) -> torch.Tensor:
        mean, logvar = model.encode(piece)
        return torch.cat([mean, logvar], dim=1)

    with torch.no_grad():
        stats = run_tiled(x, enc, tile=tile, overlap=overlap, scale=1 / DOWNSAMPLE, align=DOWNSAMPLE)
        mean, logvar = stats.chunk(2, dim=1)
        z = mean
        if generator is not None:
            z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)
    return z * model.latent_scale


def decode_latent(model: Autoencoder, z: torch.Tensor, *, tile: int = 64, overlap: int = 8) -> torch.Tensor:
    """Decode a scaled latent 1x4xhxw to a float image 1x3x8hx8w in [-1, 1], in overlapping latent tiles."""
    with torch.no_grad():
        return run_tiled(z / model.latent_scale, model.decode, tile=tile, overlap=overlap, scale=DOWNSAMPLE).clamp(-1, 1)


def reconstruct_array(model: Autoencoder, pixels: np.ndarray, *, tile: int = 512, overlap: int = 64,
                      generator: torch.Generator | None = None) -> np.ndarray:
    """Encode then decode uint8 RGB through the autoencoder in tiles; same size out."""
    h, w = pixels.shape[:2]
    z = encode_image(model, pixels, tile=tile, overlap=overlap, generator=generator)
    lt, lo = tile // DOWNSAMPLE, max(1, overlap // DOWNSAMPLE)
    return to_pixels(decode_latent(model, z, tile=lt, overlap=lo)[:, :, :h, :w])
