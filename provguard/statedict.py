"""Serialise torch state dicts for shipping: float16 bytes out, float32 tensors back in."""

from __future__ import annotations

import io
from typing import Any


def encode_half(state: dict[str, Any]) -> bytes:
    """Bytes of a state dict with floating tensors stored as float16 (other entries unchanged)."""
    import torch

    half = {
        k: (v.detach().to("cpu", torch.float16).contiguous() if torch.is_tensor(v) and v.is_floating_point() else v)
        for k, v in state.items()
    }
    buf = io.BytesIO()
    torch.save(half, buf)
    return buf.getvalue()


def decode_state(raw: bytes) -> dict[str, Any]:
    """A state dict from bytes (weights only, on the CPU), floats as float32; ValueError when damaged."""
    import torch

    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds on a damaged file
        raise ValueError(f"cannot be read ({exc})") from exc
    if not isinstance(state, dict):
        raise ValueError("does not hold a state dict")
    return {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in state.items()}
