"""Benchmark the audio watermark on real speech: robustness per attack, SNR, speed, false positives.

The clip set is built from locally installed/downloaded packages into a cache outside git (default data/speech):

* LibriVox utterances from the pocketsphinx 5.1.1 sdist (public domain):
  ``pip download --no-deps --no-binary :all: pocketsphinx==5.1.1`` then pass ``--pocketsphinx DIR_OR_TARBALL``;
* Allison Smith's prompts from Debian ``asterisk-core-sounds-en-wav`` (CC-BY-SA-3.0), read from
  /usr/share/asterisk/sounds/en_US_f_Allison (``apt-get install asterisk-core-sounds-en-wav``);
* pyannote.audio's sample.wav (MIT), cut into excerpts: ``pip download --no-deps pyannote-audio`` and pass
  ``--pyannote-wheel WHEEL``.

Nothing is downloaded by this script.  Usage:
    .venv/bin/python bench/bench_watermark_audio.py --out bench/results/watermark_audio.md
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, as the target says
    os.environ.setdefault(_var, "1")

import argparse
import datetime as dt
import io
import platform
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from scipy import signal

from provguard.watermark.audio import (
    MIN_SECONDS,
    N_CODED,
    channel_soft_bits,
    detect_audio,
    embed_audio,
)
from provguard.watermark.payload import PAYLOAD_BITS, PayloadCodec

RATE = 44100
KEY = b"provguard-bench-audio-key-000001"
ALLISON = Path("/usr/share/asterisk/sounds/en_US_f_Allison")


# ------------------------------------------------------------------------------------------------ clip set


def _to_rate(x: np.ndarray, src: int, dst: int = RATE) -> np.ndarray:
    g = np.gcd(src, dst)
    return signal.resample_poly(x, dst // g, src // g).astype(np.float32)


def _save(cache: Path, name: str, x: np.ndarray, rate: int) -> None:
    """Write a clip unless it is mostly silence (some prompts are pure pauses)."""
    frames = x[: len(x) // 2205 * 2205].reshape(-1, 2205).astype(np.float64)
    level = np.mean(frames**2, axis=1)
    loud = np.percentile(level, 95)
    if loud < 1e-6 or np.mean(level > loud * 1e-3) < 0.4:
        return
    sf.write(cache / f"{name}.flac", x, rate, subtype="PCM_16")


def build_clips(cache: Path, pocketsphinx: Path | None, pyannote_wheel: Path | None, max_clips: int) -> list[Path]:
    """Collect speech clips (>= 4 s, resampled to 44.1 kHz mono) into the cache; return their paths."""
    cache.mkdir(parents=True, exist_ok=True)
    if not any(cache.glob("*.flac")):
        if pocketsphinx is not None:
            _from_pocketsphinx(cache, pocketsphinx)
        if pyannote_wheel is not None:
            with zipfile.ZipFile(pyannote_wheel) as zf:
                data = zf.read("pyannote/audio/sample/sample.wav")
            x, rate = sf.read(io.BytesIO(data), dtype="float32")
            x = x if x.ndim == 1 else x.mean(axis=1)
            for i in range(0, int(len(x) / rate) - 6, 6):  # 6 s excerpts, and the whole 30 s
                _save(cache, f"pyannote_{i:02d}", _to_rate(x[i * rate : (i + 6) * rate], rate), RATE)
            _save(cache, "pyannote_full", _to_rate(x, rate), RATE)
        if ALLISON.is_dir():
            files = sorted(ALLISON.rglob("*.wav"))
            long = [f for f in files if sf.info(f).duration >= 4.0]
            for f in long:
                x, rate = sf.read(f, dtype="float32")
                _save(cache, f"allison_{f.stem}", _to_rate(x[: int(12 * rate)], rate), RATE)
    clips = sorted(cache.glob("*.flac"))
    if not clips:
        raise SystemExit("no speech clips: see the module docstring for the packages to fetch")
    rng = np.random.default_rng(0)
    if len(clips) > max_clips:  # keep every LibriVox/pyannote clip, sample the prompts
        fixed = [c for c in clips if not c.name.startswith("allison_")]
        rest = [c for c in clips if c.name.startswith("allison_")]
        pick = rng.choice(len(rest), size=max(0, max_clips - len(fixed)), replace=False)
        clips = fixed + [rest[i] for i in sorted(pick)]
    return clips


def _from_pocketsphinx(cache: Path, src: Path) -> None:
    """Copy the LibriVox utterances (and the 16 kHz 'forever' recordings) out of the sdist."""
    wanted = ("test/data/librivox/", "test/data/forever/")
    if src.is_file():
        with tarfile.open(src) as tf:
            for m in tf.getmembers():
                if m.name.endswith(".wav") and any(w in m.name for w in wanted):
                    fh = tf.extractfile(m)
                    assert fh is not None
                    x, rate = sf.read(io.BytesIO(fh.read()), dtype="float32")
                    if len(x) / rate >= 4.0:
                        _save(cache, "ps_" + Path(m.name).stem, _to_rate(x, rate), RATE)
    else:
        for f in sorted(src.rglob("*.wav")):
            if any(w in f.as_posix() for w in wanted) and sf.info(f).duration >= 4.0:
                x, rate = sf.read(f, dtype="float32")
                _save(cache, "ps_" + f.stem, _to_rate(x, rate), RATE)


# ------------------------------------------------------------------------------------------------ attacks


def codec_roundtrip(x: np.ndarray, rate: int, codec: str, bit_rate: int) -> tuple[np.ndarray, int]:
    """Encode mono float audio with PyAV (mp3/aac/opus) and decode it back."""
    fmt = {"libmp3lame": "mp3", "aac": "adts", "libopus": "ogg"}[codec]
    enc_rate = 48000 if codec == "libopus" else rate
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=enc_rate, layout="mono")
        stream.bit_rate = bit_rate
        pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=enc_rate)
        chunks = list(resampler.resample(frame)) + list(resampler.resample(None))
        for ch in chunks:
            for packet in stream.encode(ch):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    parts = []
    with av.open(buf, "r") as inp:
        dec_rate = inp.streams.audio[0].rate
        for fr in inp.decode(audio=0):
            a = fr.to_ndarray()
            a = a.astype(np.float32) / 32768.0 if a.dtype == np.int16 else a.astype(np.float32)
            parts.append(a.mean(axis=0) if fr.format.is_planar else a.reshape(-1, fr.layout.nb_channels).mean(axis=1))
    y = np.concatenate(parts)
    if dec_rate != rate:
        y = _to_rate(y, dec_rate, rate)
    return y.astype(np.float32), rate


def _resample_attack(x: np.ndarray, rate: int, mid: int = 16000) -> np.ndarray:
    return _to_rate(_to_rate(x, rate, mid), mid, rate)[: len(x)]


def _noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    p = np.mean(x.astype(np.float64) ** 2) * 10 ** (-snr_db / 10)
    return (x + rng.normal(0, np.sqrt(p), x.shape)).astype(np.float32)


def _lowpass(x: np.ndarray, rate: int, cutoff: float = 4000.0) -> np.ndarray:
    sos = signal.butter(8, cutoff, fs=rate, output="sos")
    return signal.sosfiltfilt(sos, x).astype(np.float32)


def _speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Resampling-style speed change: pitch and tempo together (factor > 1 is faster)."""
    return signal.resample_poly(x, 1000, round(1000 * factor)).astype(np.float32)


def _cut(x: np.ndarray, rate: int, rng: np.random.Generator, seconds: float = 3.0) -> np.ndarray:
    n = int(seconds * rate)
    start = int(rng.integers(0, max(1, len(x) - n)))
    return x[start : start + n]


def _shift(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    pad = np.zeros(int(rng.integers(1, int(1.5 * rate))), np.float32)
    return np.concatenate([pad, x[int(rng.integers(0, rate)) :]])


def attacks(rng: np.random.Generator) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Every attack of the issue, on 44.1 kHz mono float audio."""
    return {
        "none": lambda x: x,
        "mp3 128k": lambda x: codec_roundtrip(x, RATE, "libmp3lame", 128_000)[0],
        "aac 64k": lambda x: codec_roundtrip(x, RATE, "aac", 64_000)[0],
        "opus 64k": lambda x: codec_roundtrip(x, RATE, "libopus", 64_000)[0],
        "resample 16k": lambda x: _resample_attack(x, RATE),
        "noise 20 dB": lambda x: _noise(x, 20.0, rng),
        "lowpass 4k": lambda x: _lowpass(x, RATE),
        "gain +6 dB": lambda x: np.clip(x * 2.0, -1, 1),
        "gain -6 dB": lambda x: x * 0.5,
        "cut 3 s": lambda x: _cut(x, RATE, rng),
        "shift": lambda x: _shift(x, RATE, rng),
        "speed 0.95": lambda x: _speed(x, 0.95),
        "speed 1.05": lambda x: _speed(x, 1.05),
        "aac 64k + speed 1.03": lambda x: _speed(codec_roundtrip(x, RATE, "aac", 64_000)[0], 1.03),
    }


# ------------------------------------------------------------------------------------------------ run


def _snr(x: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(x.astype(np.float64) ** 2) / max(np.sum((y - x).astype(np.float64) ** 2), 1e-20)))


def _bit_accuracy(z: np.ndarray, coded: np.ndarray) -> float:
    """Fraction of coded channel bits read right at the best sync alignment (erased bits count as wrong)."""
    soft = channel_soft_bits(z, RATE, KEY)
    return float(np.mean((soft > 0) == (coded == 1)))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print markdown rows (also written to --out)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("data/speech"))
    ap.add_argument("--pocketsphinx", type=Path, default=None, help="pocketsphinx-5.1.1 sdist (tarball or dir)")
    ap.add_argument("--pyannote-wheel", type=Path, default=None)
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--negatives", type=int, default=1000, help="unmarked excerpts for the false-positive count")
    ap.add_argument("--attacks", default="", help="comma-separated subset of attack names")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    clips = build_clips(args.cache, args.pocketsphinx, args.pyannote_wheel, args.clips)
    rng = np.random.default_rng(1234)
    codec = PayloadCodec(KEY, N_CODED)
    todo = attacks(rng)
    if args.attacks:
        todo = {k: v for k, v in todo.items() if k in args.attacks.split(",")}
    stats: dict[str, list[tuple[float, bool, bool, float]]] = {k: [] for k in todo}
    snrs, t_embed, t_detect, audio_s = [], 0.0, 0.0, 0.0
    cpu_embed, cpu_detect = 0.0, 0.0
    for i, path in enumerate(clips):
        x, rate = sf.read(path, dtype="float32")
        payload = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))
        coded = codec.encode(payload)
        t0, c0 = time.perf_counter(), time.process_time()
        y = embed_audio(x, rate, payload, KEY)
        t_embed += time.perf_counter() - t0
        cpu_embed += time.process_time() - c0
        audio_s += len(x) / rate
        snrs.append(_snr(x, y))
        for name, attack in todo.items():
            z = attack(y)
            t0, c0 = time.perf_counter(), time.process_time()
            d = detect_audio(z, RATE, KEY)
            if name == "none":
                t_detect += time.perf_counter() - t0
                cpu_detect += time.process_time() - c0
            exact = d.detected and d.payload == payload
            stats[name].append((_bit_accuracy(z, coded), exact, d.detected, len(x) / rate))
        print(f"clip {i + 1}/{len(clips)} {path.name}: SNR {snrs[-1]:.1f} dB", file=sys.stderr)

    # false positives: unmarked excerpts (3-8 s) of the clips, and marked ones read with another key
    fp = 0
    n_neg = 0
    other = b"provguard-bench-audio-key-OTHER1"
    for j in range(args.negatives):
        x, rate = sf.read(clips[j % len(clips)], dtype="float32")
        seconds = float(rng.uniform(MIN_SECONDS, min(8.0, len(x) / rate)))
        ex = _cut(x, rate, rng, seconds)
        if j % 4 == 3:
            ex = embed_audio(ex, rate, int(rng.integers(0, 2**63)), other)
        fp += int(detect_audio(ex, rate, KEY).detected)
        n_neg += 1

    header = [
        f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        f"Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"Clips: {len(clips)} real speech clips ({audio_s:.0f} s), 44.1 kHz mono; payload {PAYLOAD_BITS} bits",
        "",
        (f"| Attack | Coded-bit accuracy ({N_CODED} bits) | Exact payload | Detected | Exact, clips < 6 s "
        f"| Exact, clips >= 8 s |"),
        "|---|---|---|---|---|---|",
    ]
    def rate_of(flags: list[bool]) -> str:
        return f"{100 * np.mean(flags):.0f}% ({len(flags)})" if flags else "n/a"

    rows = []
    for name, res in stats.items():
        acc = np.array([r[0] for r in res])
        short = [r[1] for r in res if r[3] < 6.0]
        long = [r[1] for r in res if r[3] >= 8.0]
        rows.append(
            f"| {name} | {100 * acc.mean():.1f}% | {100 * np.mean([r[1] for r in res]):.0f}% "
            f"| {100 * np.mean([r[2] for r in res]):.0f}% | {rate_of(short)} | {rate_of(long)} |"
        )
    footer = [
        "",
        f"SNR: mean {np.mean(snrs):.1f} dB, min {np.min(snrs):.1f} dB",
        (f"Speed (one thread): embed {audio_s / cpu_embed:.0f}x real time, detect {audio_s / cpu_detect:.0f}x real time "
        f"in CPU time ({audio_s / t_embed:.0f}x and {audio_s / t_detect:.0f}x in wall time; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"),
        f"False positives: {fp} / {n_neg} unmarked or other-key excerpts (3-8 s) at fpr 1e-6",
    ]
    text = "\n".join(header + rows + footer) + "\n"
    sys.stdout.write(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
