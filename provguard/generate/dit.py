"""A small diffusion transformer on autoencoder latents: adaLN-Zero blocks, cosine schedule, v-prediction, DDIM."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

#: Weight file name (provguard/generate/weights/dit.pt).
WEIGHTS_NAME = "dit"


@dataclass(frozen=True)
class DiTConfig:
    """Latent channels, patch size, width, depth, heads and MLP ratio."""

    latent_channels: int = 4
    patch: int = 2
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 4


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine schedule (Nichol & Dhariwal) in continuous time t in [0, 1]: signal and noise scales."""
    s = 0.008
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    abar = (f / f0).clamp(1e-5, 1.0)
    return abar.sqrt(), (1.0 - abar).sqrt()


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of t in [0, 1] (scaled to 1000 steps)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: scale and shift normalised tokens per sample."""
    return x * (1 + scale[:, None]) + shift[:, None]


class Block(nn.Module):
    """Transformer block whose norms are modulated by the timestep (adaLN-Zero gates start at 0)."""

    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(approximate="tanh"), nn.Linear(mlp_ratio * width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Attention then MLP, each gated and modulated by the conditioning vector c."""
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(c).chunk(6, dim=-1)
        n, length, width = x.shape
        h = _modulate(self.norm1(x), sh1, sc1)
        q, k, v = self.qkv(h).view(n, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, width)
        x = x + g1[:, None] * self.proj(att)
        return x + g2[:, None] * self.mlp(_modulate(self.norm2(x), sh2, sc2))


class DiT(nn.Module):
    """Patchify latents, add a depthwise-conv position code (any grid size), run adaLN blocks, unpatchify."""

    def __init__(self, config: DiTConfig = DiTConfig()) -> None:
        super().__init__()
        self.config = config
        c, p, w = config.latent_channels, config.patch, config.width
        self.embed = nn.Conv2d(c, w, p, stride=p)
        self.pos = nn.Conv2d(w, w, 3, padding=1, groups=w)
        self.time = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(Block(w, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(w, 2 * w))
        self.out = nn.Linear(w, p * p * c)
        for layer in (self.final_ada[1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predict v for noisy latents z (N,C,h,w; h,w multiples of the patch) at times t (N,)."""
        n, c, h, w = z.shape
        p = self.config.patch
        x = self.embed(z)
        x = x + self.pos(x)
        gh, gw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        cond = self.time(timestep_embedding(t, self.config.width))
        for block in self.blocks:
            x = block(x, cond)
        shift, scale = self.final_ada(cond).chunk(2, dim=-1)
        x = self.out(_modulate(self.norm(x), shift, scale))
        x = x.view(n, gh, gw, c, p, p).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(n, c, h, w)


def diffusion_loss(model: DiT, z0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """DDPM training loss: MSE between predicted and true v at uniformly drawn times."""
    n = z0.shape[0]
    t = torch.rand(n, generator=generator)
    noise = torch.randn(z0.shape, generator=generator)
    a, s = alpha_sigma(t)
    a, s = a.view(n, 1, 1, 1), s.view(n, 1, 1, 1)
    zt = a * z0 + s * noise
    target = a * noise - s * z0
    return F.mse_loss(model(zt, t), target)


def add_noise(z0: torch.Tensor, t: float, noise: torch.Tensor) -> torch.Tensor:
    """Forward-diffuse clean latents to time t with the given noise."""
    a, s = alpha_sigma(torch.tensor(float(t)))
    return a * z0 + s * noise


@torch.no_grad()
def ddim_sample(model: DiT, zt: torch.Tensor, *, steps: int, t_start: float = 1.0) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) from time t_start down to 0 in `steps` steps; returns clean latents."""
    times = torch.linspace(t_start, 0.0, steps + 1)
    z = zt
    for t_now, t_next in itertools.pairwise(times):
        a, s = alpha_sigma(t_now)
        v = model(z, t_now.expand(z.shape[0]))
        x0 = (a * z - s * v).clamp(-6.0, 6.0)
        eps = s * z + a * v
        a2, s2 = alpha_sigma(t_next)
        z = a2 * x0 + s2 * eps if t_next > 0 else x0
    return z


def state_for_saving(model: DiT) -> dict:
    """The state dict plus the architecture config, ready for weights_io.save_weights."""
    state = dict(model.state_dict())
    state["config"] = asdict(model.config)
    return state


def from_state(state: dict) -> DiT:
    """Rebuild a DiT in eval mode from a state saved with state_for_saving."""
    config = DiTConfig(**dict(state.get("config") or {}))
    model = DiT(config)
    model.load_state_dict({k: v for k, v in state.items() if k != "config"})
    return model.eval()


def load_dit() -> DiT:
    """Load the shipped diffusion transformer (MissingWeightsError with a train hint when absent)."""
    from provguard.generate.weights_io import load_weights

    return from_state(load_weights(WEIGHTS_NAME))
