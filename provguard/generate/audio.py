"""Speech resynthesis: real speech -> log-mel (or LPC) -> neural, Griffin-Lim or source-filter vocoder -> signed WAV."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from provguard.errors import InputError
from provguard.generate import griffinlim, lpc
from provguard.generate import mel as melfe

VOCODERS = ("neural", "griffinlim", "lpc")
SAMPLE_RATE = melfe.SAMPLE_RATE
#: Shortest input resynthesised (seconds).
MIN_SECONDS = 0.5
#: Longest input resynthesised (seconds); longer input is refused rather than cut.
DEFAULT_MAX_SECONDS = 600.0
#: Largest pitch shift accepted, in semitones either way.
MAX_PITCH = 12.0
#: Input whose peak stays below this (-80 dBFS) counts as silent.
SILENCE_PEAK = 1e-4
#: Output peak ceiling: louder resyntheses are scaled down to it rather than clipped.
OUTPUT_PEAK = 0.98


def model_id(vocoder: str) -> tuple[str, str]:
    """(MODEL_NAME, MODEL_VERSION) of a vocoder, as recorded in the manifest's softwareAgent."""
    _check_vocoder(vocoder)
    if vocoder == "griffinlim":
        return griffinlim.MODEL_NAME, griffinlim.MODEL_VERSION
    if vocoder == "lpc":
        return lpc.MODEL_NAME, lpc.MODEL_VERSION
    from provguard.generate.vocoder import (  # imports no torch at module level
        MODEL_NAME,
        MODEL_VERSION,
    )

    return MODEL_NAME, MODEL_VERSION


def software_agent(vocoder: str) -> str:
    """NAME@VERSION of a vocoder."""
    name, version = model_id(vocoder)
    return f"{name}@{version}"


def _check_vocoder(vocoder: str) -> None:
    """Refuse unknown vocoder names."""
    if vocoder not in VOCODERS:
        raise InputError(f"unknown vocoder {vocoder!r}; choose one of {', '.join(VOCODERS)}")


def _check_pitch(pitch: float) -> float:
    """Refuse pitch shifts that are not finite or beyond MAX_PITCH semitones."""
    try:
        value = float(pitch)
    except (TypeError, ValueError):
        raise InputError(f"pitch must be a number of semitones, got {pitch!r}") from None
    if not math.isfinite(value) or abs(value) > MAX_PITCH:
        raise InputError(f"pitch must be within +-{MAX_PITCH:g} semitones, got {pitch!r}")
    return value


def to_mono_16k(samples: np.ndarray, rate: int, *, max_seconds: float = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """Mix to mono and resample to 16 kHz (float32), refusing input that is too short, too long or silent."""
    from scipy.signal import resample_poly

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1 or x.size == 0 or int(rate) <= 0:
        raise InputError("audio must hold samples (n,) or (n, channels) at a positive sample rate")
    if not np.all(np.isfinite(x)):
        raise InputError("audio samples contain NaN or infinity")
    seconds = x.shape[0] / int(rate)
    if seconds < MIN_SECONDS:
        raise InputError(f"audio of {seconds:.2f} s is too short to resynthesise: it needs at least {MIN_SECONDS:g} s")
    if seconds > max_seconds:
        from provguard.errors import MediaTooLargeError

        raise MediaTooLargeError(f"audio of {seconds:.0f} s is over the {max_seconds:.0f} s resynthesis limit")
    if float(np.abs(x).max()) < SILENCE_PEAK:
        raise InputError("audio is silent (peak below -80 dBFS): nothing to resynthesise")
    if int(rate) != SAMPLE_RATE:
        g = math.gcd(int(rate), SAMPLE_RATE)
        x = resample_poly(x.astype(np.float64), SAMPLE_RATE // g, int(rate) // g).astype(np.float32)
    return x


def resynthesize(
    samples: np.ndarray,
    rate: int,
    *,
    vocoder: str = "neural",
    pitch: float = 0.0,
    seed: int = 0,
    model: Any = None,
) -> tuple[np.ndarray, int]:
    """Resynthesise speech (pitch in semitones, same duration) to float32 mono 16 kHz; `model` overrides the shipped one."""
    _check_vocoder(vocoder)
    shift = _check_pitch(pitch)
    x = to_mono_16k(samples, rate)
    if vocoder == "lpc":
        out = lpc.lpc_vocode(x, pitch=shift, seed=seed)
    else:
        logmel = melfe.shift_mel(melfe.log_mel(x), shift)
        if vocoder == "griffinlim":
            out = griffinlim.griffin_lim(logmel, x.shape[0], seed=seed)
        else:
            from provguard.generate.vocoder import load_generator, vocode

            net = model if model is not None else load_generator()
            f0 = lpc.track_pitch(x, hop=melfe.HOP) * melfe.semitone_ratio(shift) if net.config.harmonics else None
            out = vocode(logmel, x.shape[0], f0=f0, model=net, seed=seed)
    out = np.nan_to_num(np.asarray(out, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.abs(out).max()) if out.size else 0.0
    if peak > OUTPUT_PEAK:
        out = out * np.float32(OUTPUT_PEAK / peak)
    return out.astype(np.float32), SAMPLE_RATE


def load_speech(source: Path, *, max_seconds: float = DEFAULT_MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Decode a WAV, FLAC, MP3 or M4A file within the size and duration limits: (frames x channels float32, rate)."""
    from provguard.errors import UnsupportedMediaError
    from provguard.media import FLAC, M4A, MP3, WAV, read_media
    from provguard.mediaio import decode_audio

    data, kind = read_media(source)
    if kind not in (WAV, FLAC, MP3, M4A):
        raise UnsupportedMediaError(f"{source} is {kind.mime}; resynthesis reads WAV, FLAC, MP3 or M4A speech")
    decoded = decode_audio(data, kind, max_seconds=max_seconds)
    return decoded.samples, decoded.rate


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM mono WAV of float samples."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(samples, -1.0, 1.0).astype(np.float32), int(rate), format="WAV", subtype="PCM_16")
    return buf.getvalue()


def generate_audio(
    output: Path,
    *,
    source: Path,
    vocoder: str = "neural",
    pitch: float = 0.0,
    seed: int = 0,
    no_sign: bool = False,
    force: bool = False,
) -> Path:
    """Resynthesise the speech in `source` and write a 16-bit 16 kHz WAV to `output`, signed unless no_sign."""
    from provguard.fileio import atomic_write, check_output_path

    output, source = Path(output), Path(source)
    _check_vocoder(vocoder)
    shift = _check_pitch(pitch)
    check_output_path(output, force, (source,))
    samples, rate = load_speech(source)
    if not no_sign:
        from provguard.watermark.audio import MIN_SECONDS as WATERMARK_SECONDS

        if samples.shape[0] / rate < WATERMARK_SECONDS:
            raise InputError(
                f"audio of {samples.shape[0] / rate:.2f} s is too short to carry the audio watermark of a signed output "
                f"(it needs {WATERMARK_SECONDS:g} s); use a longer clip or --no-sign"
            )
    out, out_rate = resynthesize(samples, rate, vocoder=vocoder, pitch=shift, seed=seed)
    data = wav_bytes(out, out_rate)
    if no_sign:
        atomic_write(output, data)
        return output
    from provguard.sign import sign

    sign(data, output, generator=software_agent(vocoder), digital_source_type="trainedAlgorithmicMedia", force=force)
    return output
