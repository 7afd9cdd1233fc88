"""The neural vocoder: a small HiFi-GAN-style generator (log-mel -> waveform, transposed-conv upsampling 8x8x4)."""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from provguard.errors import ProvguardError
from provguard.generate import mel as melfe

MODEL_NAME = "provguard-ref-vocoder-neural"
MODEL_VERSION = "1"
WEIGHTS_NAME = "vocoder"
CONFIG_KEY = "__config__"
#: Mel frames vocoded per forward pass, and the context added on each side (beyond the receptive field).
CHUNK_FRAMES = 512
CONTEXT_FRAMES = 16
#: Fixed affine map of the log-mel (natural log, floor -11.5) into roughly [-2, 2] before the first conv.
INPUT_SHIFT, INPUT_SCALE = 5.0, 1.0 / 3.0
#: Source module (neural source-filter): amplitude of each harmonic sine where voiced, noise levels voiced/unvoiced.
SINE_AMPLITUDE = 0.1
VOICED_NOISE_STD = 0.003
UNVOICED_NOISE_STD = SINE_AMPLITUDE / 3
_LOCK = threading.Lock()


class VocoderWeightsError(ProvguardError):
    """The shipped vocoder weights do not match the generator this version builds."""


@dataclass(frozen=True)
class VocoderConfig:
    """Shape of the generator: channels after the input conv, upsampling factors, residual kernel and dilations."""

    channels: int = 192
    upsample: tuple[int, ...] = (8, 8, 4)
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 3, 9)
    n_mels: int = melfe.N_MELS
    harmonics: int = 0  # > 0: a neural source-filter module fed sines at f0 .. harmonics * f0 (not in the shipped model)

    def __post_init__(self) -> None:
        if int(np.prod(self.upsample)) != melfe.HOP:
            raise ValueError(f"upsampling {self.upsample} must multiply to the hop {melfe.HOP}")

    def to_json(self) -> str:
        """Serialise for the weight file."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VocoderConfig:
        """Parse what to_json wrote."""
        raw = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


DEFAULT_CONFIG = VocoderConfig()


@functools.lru_cache(maxsize=1)
def _classes() -> tuple[type, type]:
    """Define the torch modules on first use (torch is imported lazily)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    slope = 0.1

    class ResBlock(nn.Module):
        """Dilated residual block: (lrelu, dilated conv, lrelu, conv) + skip, once per dilation."""

        def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]) -> None:
            super().__init__()
            self.dilated = nn.ModuleList(
                nn.Conv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2) for d in dilations
            )
            self.plain = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2) for _ in dilations)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for dilated, plain in zip(self.dilated, self.plain):
                x = x + plain(F.leaky_relu(dilated(F.leaky_relu(x, slope)), slope))
            return x

    class Generator(nn.Module):
        """Log-mel (B x n_mels x T) + source (B x harmonics+1 x T*hop) -> waveform (B x 1 x T*hop) in [-1, 1]."""

        def __init__(self, config: VocoderConfig) -> None:
            super().__init__()
            self.config = config
            self.pre = nn.Conv1d(config.n_mels, config.channels, 7, padding=3)
            # optional source module: a learned mix of harmonic sines and noise, downsampled into every stage
            self.merge = nn.Conv1d(config.harmonics + 1, 1, 1) if config.harmonics else None
            ch = config.channels
            self.ups = nn.ModuleList()
            self.blocks = nn.ModuleList()
            self.inject = nn.ModuleList()
            remaining = int(np.prod(config.upsample))
            for factor in config.upsample:
                self.ups.append(nn.ConvTranspose1d(ch, ch // 2, 2 * factor, stride=factor, padding=factor // 2))
                ch //= 2
                remaining //= factor
                if config.harmonics:
                    self.inject.append(
                        nn.Conv1d(1, ch, 2 * remaining, stride=remaining, padding=remaining // 2) if remaining > 1
                        else nn.Conv1d(1, ch, 1)
                    )
                self.blocks.append(ResBlock(ch, config.kernel, config.dilations))
            self.post = nn.Conv1d(ch, 1, 7, padding=3)

        def forward(self, logmel: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
            excitation = torch.tanh(self.merge(source)) if self.merge is not None and source is not None else None
            if self.merge is not None and excitation is None:
                raise ValueError("this generator needs a source signal (harmonics > 0)")
            x = self.pre((logmel + INPUT_SHIFT) * INPUT_SCALE)
            for i, (up, block) in enumerate(zip(self.ups, self.blocks)):
                x = up(F.leaky_relu(x, slope))
                if excitation is not None:
                    x = x + self.inject[i](excitation)[..., : x.shape[-1]]
                x = block(x)
            return torch.tanh(self.post(F.leaky_relu(x, 0.01)))

    return ResBlock, Generator


def build_generator(config: VocoderConfig = DEFAULT_CONFIG, *, weight_norm: bool = False) -> Any:
    """A fresh generator (torch.nn.Module); weight_norm=True for training."""
    import torch

    model = _classes()[1](config)
    if weight_norm:
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)) and module is not getattr(model, "merge", None):
                torch.nn.utils.parametrizations.weight_norm(module)
    return model


def export_state(model: Any) -> dict[str, Any]:
    """Plain (weight-norm folded) state dict of a generator plus its config, ready for save_weights."""
    import torch

    state: dict[str, Any] = {}
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                state[f"{name}.weight"] = module.weight.detach().clone()  # weight norm applied when parametrized
                state[f"{name}.bias"] = module.bias.detach().clone()
    state[CONFIG_KEY] = model.config.to_json()
    return state


def parameter_count(model: Any) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters()))


_MODEL: dict[str, Any] = {}


def load_generator() -> Any:
    """The shipped generator in eval mode (cached; reloaded when the weight file changes)."""
    from provguard.generate.weights_io import load_weights, weights_path

    path = weights_path(WEIGHTS_NAME)
    state = load_weights(WEIGHTS_NAME)
    key = f"{path}:{path.stat().st_mtime_ns}"
    with _LOCK:
        if key in _MODEL:
            return _MODEL[key]
    try:
        config = VocoderConfig.from_json(str(state.pop(CONFIG_KEY)))
        model = build_generator(config)
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise VocoderWeightsError(
            f"vocoder weights {path} do not fit this generator ({exc}); retrain with `provguard generate train audio`"
        ) from exc
    model.eval()
    with _LOCK:
        _MODEL.clear()
        _MODEL[key] = model
    return model


def source_signal(f0: np.ndarray, length: int, *, harmonics: int, seed: int = 0) -> np.ndarray:
    """The source module's input, (harmonics + 1) x length float32: sines at k*f0 where voiced, plus a noise row."""
    from provguard.generate.lpc import f0_per_sample

    rng = np.random.default_rng(seed)
    freq, voiced = f0_per_sample(np.asarray(f0, dtype=np.float64), length, melfe.HOP)
    phase = 2.0 * np.pi * np.cumsum(freq / melfe.SAMPLE_RATE)
    out = np.empty((harmonics + 1, length), dtype=np.float32)
    offsets = rng.uniform(0.0, 2.0 * np.pi, harmonics)
    for k in range(1, harmonics + 1):
        audible = voiced & (k * freq < melfe.SAMPLE_RATE / 2)
        out[k - 1] = np.where(audible, SINE_AMPLITUDE * np.sin(k * phase + offsets[k - 1]), 0.0)
    out[harmonics] = rng.standard_normal(length) * np.where(voiced, VOICED_NOISE_STD, UNVOICED_NOISE_STD)
    return out


def vocode(
    logmel: np.ndarray, length: int, *, f0: np.ndarray | None = None, model: Any = None, seed: int = 0
) -> np.ndarray:
    """Waveform (float32, `length` samples at 16 kHz) from a log-mel (and per-frame f0 if the model takes one)."""
    import torch

    model = model if model is not None else load_generator()
    hop = melfe.HOP
    frames = logmel.shape[1]
    source = None
    if model.config.harmonics:
        if f0 is None or f0.shape[0] != frames:
            raise ValueError(f"this vocoder needs one f0 value per mel frame ({frames})")
        source = source_signal(f0, frames * hop, harmonics=model.config.harmonics, seed=seed)
    out = np.zeros(frames * hop, dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, frames, CHUNK_FRAMES):
            stop = min(start + CHUNK_FRAMES, frames)
            lo, hi = max(0, start - CONTEXT_FRAMES), min(frames, stop + CONTEXT_FRAMES)
            chunk = torch.from_numpy(np.ascontiguousarray(logmel[:, lo:hi], dtype=np.float32))[None]
            excitation = None if source is None else torch.from_numpy(np.ascontiguousarray(source[:, lo * hop: hi * hop]))[None]
            wave = model(chunk, excitation)[0, 0].numpy()
            out[start * hop: stop * hop] = wave[(start - lo) * hop: (stop - lo) * hop]
    if out.shape[0] < length:
        out = np.pad(out, (0, length - out.shape[0]))
    return out[:length]
