"""Benchmark the audio watermark on real speech: robustness per attack, SNR, speed, false positives.

Clips come from the real-media corpus (``provguard corpus build``; read with provguard.generate.corpus.load_corpus):
the speech of one split (``test`` by default), per source and speaker concatenated in path order and cut into
3-8 s excerpts, picked round-robin over the sources, resampled to 44.1 kHz mono.  The excerpts not marked (and
the G.722 copies of the Asterisk prompts) are the pool of unmarked negatives.  Without a corpus the fixtures in
fixtures/speech are used instead, and the report says so.  Nothing is downloaded.  Usage (from the repo root):
    python -m bench.bench_watermark_audio --out FILE
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, as the target says
    os.environ.setdefault(_var, "1")

import argparse
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from scipy import signal

from bench.common import emit, machine, shown_command, table, today
from provguard.errors import AudioTooShortError, ProvguardError
from provguard.watermark.audio import (
    CHOOSE_MAX_SECONDS,
    MIN_SECONDS,
    N_CODED,
    PAYLOAD_TRIES,
    channel_soft_bits,
    detect_audio,
    embed_audio,
    embed_audio_best,
)
from provguard.watermark.payload import PAYLOAD_BITS, PayloadCodec, PayloadDecision

try:  # pin BLAS/OpenMP pools to one thread even where the environment variables came too late
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl ships with scipy's usual installs
    threadpool_limits = None

RATE = 44100
KEY = b"provguard-bench-audio-key-000001"
OTHER_KEY = b"provguard-bench-audio-key-OTHER1"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
SOURCES = ("librivox", "asterisk-wav", "klettres", "codec2", "pyannote")
NEGATIVE_ONLY = ("asterisk-g722",)  # the same prompts as asterisk-wav through G.722: negatives only
MIN_EXCERPT, MAX_EXCERPT = 3.2, 8.0  # 3.2 s: a 5 % speed-up still leaves MIN_SECONDS
GAP_SECONDS = 0.15  # silence between concatenated utterances


@dataclass(frozen=True)
class Clip:
    """One excerpt of real speech at 44.1 kHz."""

    name: str
    source: str
    x: np.ndarray

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return len(self.x) / RATE


# ------------------------------------------------------------------------------------------------ clip set


def _to_rate(x: np.ndarray, src: int, dst: int = RATE) -> np.ndarray:
    g = np.gcd(src, dst)
    return signal.resample_poly(x, dst // g, src // g).astype(np.float32)


def _read(path: Path) -> np.ndarray:
    """A file as 44.1 kHz mono float32."""
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    return _to_rate(x.mean(axis=1), rate)


def _excerpts(name: str, source: str, parts: list[np.ndarray], rng: np.random.Generator) -> list[Clip]:
    """Concatenate utterances (short gaps between) and cut the stream into excerpts of 3-8 s."""
    gap = np.zeros(int(GAP_SECONDS * RATE), np.float32)
    stream = np.concatenate([p for x in parts for p in (x, gap)])
    out, pos, n = [], 0, len(stream)
    while n - pos >= MIN_EXCERPT * RATE:
        length = int(rng.uniform(MIN_EXCERPT, MAX_EXCERPT) * RATE)
        if n - pos - length < MIN_EXCERPT * RATE:  # the remainder would be too short: take it along (up to 8 s)
            length = min(n - pos, int(MAX_EXCERPT * RATE))
        seg = stream[pos : pos + length]
        if _is_speech(seg):
            peak = float(np.max(np.abs(seg)))  # resampling a clipped recording overshoots [-1, 1]: scale it back
            out.append(Clip(f"{name}#{len(out)}", source, seg * np.float32(0.999 / peak) if peak > 0.999 else seg))
        pos += length
    return out


def _is_speech(x: np.ndarray) -> bool:
    """Reject excerpts that are mostly silence."""
    frames = x[: len(x) // 2205 * 2205].reshape(-1, 2205).astype(np.float64)
    level = np.mean(frames**2, axis=1)
    loud = np.percentile(level, 95)
    return bool(loud > 1e-6 and np.mean(level > loud * 1e-3) >= 0.4)


def _corpus_streams(split: str) -> tuple[dict[str, list[tuple[str, list[Path]]]], str] | None:
    """Per source, the (speaker, files) groups of one corpus split; None when no corpus is built."""
    try:
        from provguard.generate.corpus import default_corpus_dir, load_corpus

        items = [i for i in load_corpus() if i.kind == "speech" and i.split == split]
    except ProvguardError:
        return None
    if not items:
        return None
    root = default_corpus_dir()
    groups: dict[str, dict[str, list[Path]]] = {}
    for item in sorted(items, key=lambda i: i.path):
        groups.setdefault(item.source, {}).setdefault(item.speaker or item.source, []).append(root / item.path)
    missing = [s for s in SOURCES if s not in groups]
    note = f"corpus {root}, split '{split}'" + (f" (no {', '.join(missing)} speech in this split)" if missing else "")
    return {s: sorted(g.items()) for s, g in groups.items()}, note


def build_clip_set(split: str, n_clips: int, seed: int) -> tuple[list[Clip], list[Clip], str]:
    """Marked clips (round-robin over sources), the unmarked pool for negatives, and where they came from."""
    rng = np.random.default_rng(seed)
    found = _corpus_streams(split)
    if found is None:
        print("bench: no real-media corpus found; falling back to fixtures/speech", file=sys.stderr)
        parts = [_read(p) for p in sorted(FIXTURES.glob("*.flac"))]
        clips = _excerpts("fixtures", "fixtures", parts, rng)
        return clips[:n_clips], clips[n_clips:] or clips, "fixtures/speech (no corpus built: fallback)"
    groups, note = found
    per_source: dict[str, list[Clip]] = {}
    for source, speakers in groups.items():
        for speaker, files in speakers:
            clips = _excerpts(f"{source}:{speaker}", source, [_read(f) for f in files], rng)
            per_source.setdefault(source, []).extend(clips)
    for clips in per_source.values():  # interleave speakers within a source
        rng.shuffle(clips)
    marked: list[Clip] = []
    order = [s for s in per_source if s not in NEGATIVE_ONLY]
    while len(marked) < n_clips and any(per_source[s] for s in order):
        for s in order:
            if per_source[s] and len(marked) < n_clips:
                marked.append(per_source[s].pop())
    pool = [c for clips in per_source.values() for c in clips]
    return marked, pool, note


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


def tempo_change(x: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """Tempo change that keeps the pitch (ffmpeg's atempo through PyAV, as an editor's "change tempo"); factor > 1 is faster."""
    graph = av.filter.Graph()
    source = graph.add_abuffer(sample_rate=rate, format="flt", layout="mono", time_base=f"1/{rate}")
    stretch = graph.add("atempo", f"{factor}")
    sink = graph.add("abuffersink")
    source.link_to(stretch)
    stretch.link_to(sink)
    graph.configure()
    out: list[np.ndarray] = []
    samples = np.ascontiguousarray(x, dtype=np.float32).reshape(1, -1)
    for start in [*range(0, samples.shape[1], 8192), None]:
        if start is None:
            graph.push(None)
        else:
            frame = av.AudioFrame.from_ndarray(samples[:, start : start + 8192].copy(), format="flt", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            graph.push(frame)
        while True:
            try:
                out.append(graph.pull().to_ndarray().reshape(-1))
            except (av.error.BlockingIOError, av.error.EOFError):
                break
    return np.concatenate(out)


def pitch_change(x: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """Pitch shift that keeps the duration (a voice changer; ffmpeg's asetrate + atempo recipe): factor > 1 is higher."""
    return tempo_change(_speed(x, factor), rate, 1.0 / factor)


def _cut(x: np.ndarray, rate: int, rng: np.random.Generator, seconds: float = 3.0) -> np.ndarray:
    n = int(seconds * rate)
    start = int(rng.integers(0, max(1, len(x) - n)))
    return x[start : start + n]


def _shift(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Drop up to 0.2 s of the head and prepend more silence than that (up to 1.5 s): no clip gets shorter."""
    drop = int(rng.integers(0, int(0.2 * rate)))
    pad = np.zeros(int(rng.integers(drop + 1, int(1.5 * rate))), np.float32)
    return np.concatenate([pad, x[drop:]])


def attacks(rng: np.random.Generator) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Every attack of the issue, and pitch shifts besides, on 44.1 kHz mono float audio."""
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
        "tempo 0.95 (pitch kept)": lambda x: tempo_change(x, RATE, 0.95),
        "tempo 1.05 (pitch kept)": lambda x: tempo_change(x, RATE, 1.05),
        "pitch 0.95 (tempo kept)": lambda x: pitch_change(x, RATE, 0.95),
        "pitch 1.05 (tempo kept)": lambda x: pitch_change(x, RATE, 1.05),
        "aac 64k + speed 1.03": lambda x: _speed(codec_roundtrip(x, RATE, "aac", 64_000)[0], 1.03),
    }


# ------------------------------------------------------------------------------------------------ run

NOISE_LENGTHS = (3.2, 6.0, 12.0, 24.0, 48.0)


def _payload_draws(seed: int) -> Callable[[], int]:
    """Fresh random 64-bit payloads from a seeded generator (the bench's stand-in for the manifest store)."""
    rng = np.random.default_rng(seed)
    return lambda: int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))


def _noise_by_length(source: list[Clip], trials: int, seed: int) -> list[list[str]]:
    """Exact-payload rates after 20 dB white noise for clips of NOISE_LENGTHS seconds built from the excerpts."""
    if trials <= 0:
        return []
    rng = np.random.default_rng(seed)
    rows = []
    for length in NOISE_LENGTHS:
        noisy, clean = [], []
        for _ in range(trials):
            parts, total = [], 0.0
            for i in rng.permutation(len(source)):
                parts.append(source[i].x)
                total += source[i].seconds
                if total >= length:
                    break
            x = np.concatenate(parts)[: int(length * RATE)]
            y, payload = embed_audio_best(x, RATE, KEY, lambda: int(rng.integers(0, 2**63)))
            for z, out in ((_noise(y, 20.0, rng), noisy), (y, clean)):
                d = detect_audio(z, RATE, KEY)
                out.append(d.carries(payload))
        rows.append([f"{length:g} s", _pct(noisy), _pct(clean)])
        print(f"noise by length: {length:g} s: {_pct(noisy)} (clean {_pct(clean)})", file=sys.stderr)
    return rows



def _snr(x: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(x.astype(np.float64) ** 2) / max(np.sum((y - x).astype(np.float64) ** 2), 1e-20)))


def _bit_accuracy(z: np.ndarray, coded: np.ndarray) -> float:
    """Fraction of coded channel bits read right at the best sync alignment (erased bits count as wrong)."""
    soft = channel_soft_bits(z, RATE, KEY)
    return float(np.mean((soft > 0) == (coded == 1)))


def _pct(flags: list[bool]) -> str:
    return f"{100 * np.mean(flags):.0f}% ({int(np.sum(flags))}/{len(flags)})" if flags else "n/a"


def run(args: argparse.Namespace) -> str:
    """Embed, attack and detect every clip; count false positives; return the markdown report."""
    clips, pool, origin = build_clip_set(args.split, args.clips, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    codec = PayloadCodec(KEY, N_CODED)
    todo = attacks(rng)
    if args.attacks:
        todo = {k: v for k, v in todo.items() if k in args.attacks.split(",")}
    stats: dict[str, list[tuple[float, bool, bool, float]]] = {k: [] for k in todo}
    snrs: list[float] = []
    wall = {"embed": 0.0, "detect": 0.0, "mark": 0.0}
    cpu = {"embed": 0.0, "detect": 0.0, "mark": 0.0}
    audio_s = 0.0
    draw = _payload_draws(args.seed + 3)
    for i, clip in enumerate(clips):
        t0, c0 = time.perf_counter(), time.process_time()
        y, payload = embed_audio_best(clip.x, RATE, KEY, draw)  # as sign marks: the best of a few fresh payloads
        wall["mark"] += time.perf_counter() - t0
        cpu["mark"] += time.process_time() - c0
        coded = codec.encode(payload)
        t0, c0 = time.perf_counter(), time.process_time()
        embed_audio(clip.x, RATE, payload, KEY)  # the embedding alone, for the speed line
        wall["embed"] += time.perf_counter() - t0
        cpu["embed"] += time.process_time() - c0
        audio_s += clip.seconds
        snrs.append(_snr(clip.x, y))
        for name, attack in todo.items():
            z = attack(y)
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                d = detect_audio(z, RATE, KEY)
            except AudioTooShortError:  # the attack left less than MIN_SECONDS: a miss
                d = PayloadDecision(False, None, 0, 0, 1.0)
            if name == "none":
                wall["detect"] += time.perf_counter() - t0
                cpu["detect"] += time.process_time() - c0
            exact = d.carries(payload)
            acc = _bit_accuracy(z, coded) if len(z) >= MIN_SECONDS * RATE else 0.0
            stats[name].append((acc, exact, d.detected, clip.seconds))
        bad = [n for n, r in stats.items() if not r[-1][1]]
        print(f"clip {i + 1}/{len(clips)} {clip.name} {clip.seconds:.1f} s: SNR {snrs[-1]:.1f} dB"
              + (f", missed: {', '.join(bad)}" if bad else ""), file=sys.stderr)

    # false positives: unmarked excerpts of other clips (3-8 s), a quarter of them marked with another key
    fp, n_neg, n_other = 0, 0, 0
    for j in range(args.negatives):
        src = pool[int(rng.integers(0, len(pool)))].x
        seconds = float(rng.uniform(MIN_SECONDS, min(MAX_EXCERPT, len(src) / RATE)))
        n = int(seconds * RATE)
        ex = src[int(rng.integers(0, len(src) - n + 1)) :][:n]
        if j % 4 == 3:
            ex = embed_audio(ex, RATE, int(rng.integers(0, 2**63)), OTHER_KEY)
            n_other += 1
        fp += int(detect_audio(ex, RATE, KEY).detected)
        n_neg += 1

    length_rows = _noise_by_length(clips + pool, args.length_trials, args.seed + 2)

    by_source: dict[str, int] = {}
    for c in clips:
        by_source[c.source] = by_source.get(c.source, 0) + 1
    rows = []
    for name, res in stats.items():
        acc = np.array([r[0] for r in res])
        rows.append([
            name,
            f"{100 * acc.mean():.1f}% (min {100 * acc.min():.1f}%)",
            _pct([r[1] for r in res]),
            _pct([r[2] for r in res]),
            _pct([r[1] for r in res if r[3] < 6.0]),
            _pct([r[1] for r in res if r[3] >= 6.0]),
        ])
    threads = "1 thread (threadpoolctl + OMP/MKL/OPENBLAS_NUM_THREADS=1)" if threadpool_limits else \
        "OMP/MKL/OPENBLAS_NUM_THREADS=1 (threadpoolctl not installed)"
    lines = [
        "## Audio watermark",
        "",
        f"- command: `{args.command}`",
        f"- machine: {machine()}",
        f"- date: {today()}",
        (f"- clips: {len(clips)} excerpts ({audio_s:.0f} s, {min(c.seconds for c in clips):.1f}-"
         f"{max(c.seconds for c in clips):.1f} s) of real speech from {origin}; per source ")
        + ", ".join(f"{k} {v}" for k, v in sorted(by_source.items())) + "; resampled to 44.1 kHz mono",
        (f"- payload {PAYLOAD_BITS} bits in {N_CODED} coded bits, chosen as `provguard sign` chooses it: of "
         f"{PAYLOAD_TRIES} fresh random payloads, the one the clip's untouched read-back carries best; detection at "
         "fpr 1e-6; attacks seeded"),
        "",
        table(["Attack", f"Coded-bit accuracy ({N_CODED} bits)", "Exact payload", "Detected",
               "Exact, clips 3-6 s", "Exact, clips 6-8 s"], rows),
        "",
        f"- SNR (host / mark, all channels, full band): mean {np.mean(snrs):.1f} dB, min {np.min(snrs):.1f} dB",
        (f"- speed, {threads}: embed {audio_s / wall['embed']:.0f}x, detect {audio_s / wall['detect']:.0f}x real "
         f"time (wall); {audio_s / max(cpu['embed'], 1e-9):.0f}x and {audio_s / max(cpu['detect'], 1e-9):.0f}x in "
         f"CPU time; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; marking as `provguard sign` "
         f"does (each clip of up to {CHOOSE_MAX_SECONDS:.0f} s embedded and read back with {PAYLOAD_TRIES} fresh "
         f"payloads, the one read back best kept): {audio_s / wall['mark']:.0f}x real time"),
        (f"- false positives: {fp} / {n_neg} negatives (3-8 s excerpts not marked with the key: "
         f"{n_neg - n_other} unmarked, {n_other} marked with another key) at fpr 1e-6"),
    ]
    if length_rows:
        lines += [
            "",
            (f"Additive white noise at 20 dB SNR by clip length: {args.length_trials} clips per length, each "
             "made of the split's excerpts joined in random order and cut to the length, then marked (as sign marks: "
             f"the best of {PAYLOAD_TRIES} fresh payloads up to {CHOOSE_MAX_SECONDS:.0f} s), noised and detected. Blocks "
             "repeat every 2.94 s and detection folds them, so longer clips collect more evidence."),
            "",
            table(["Clip length", "Exact payload, noise 20 dB", "Exact payload, no attack"], length_rows),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the markdown and write it to --out."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--split", default="test", help="corpus split the clips come from")
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--negatives", type=int, default=1000, help="excerpts not marked with the key")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--attacks", default="", help="comma-separated subset of attack names")
    ap.add_argument("--length-trials", type=int, default=16,
                    help="clips per length in the noise-by-clip-length table (0 skips it)")
    args = ap.parse_args(argv)
    args.command = shown_command("bench.bench_watermark_audio", argv)
    if threadpool_limits is not None:
        with threadpool_limits(limits=1):
            text = run(args)
    else:
        text = run(args)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
