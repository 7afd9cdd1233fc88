"""Train the neural vocoder on the corpus speech (train split), evaluate every vocoder on the test split, write the card."""

from __future__ import annotations

import datetime as dt
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from provguard.errors import InputError
from provguard.generate import mel as melfe
from provguard.generate.lpc import track_pitch

#: Generator steps of a full run; `minutes` caps the wall time if the machine is slower.
STEPS = 1600
BATCH = 8
SEGMENT_FRAMES = 32  # 8192 samples, 0.51 s
LEARNING_RATE = 1e-3
FINAL_LEARNING_RATE = 5e-5
WARMUP_STEPS = 50
#: Fraction of the steps after which the multi-period discriminator joins (0 < x < 1), or None for no GAN.
GAN_START = 0.75
ADVERSARIAL_WEIGHT = 1.0
FEATURE_WEIGHT = 2.0
MEL_WEIGHT = 1.0
PERIODS = (2, 3, 5)
#: (n_fft, hop) of the multi-resolution STFT loss.
STFT_RESOLUTIONS = ((1024, 256), (512, 128), (256, 64))
GAIN_DB_RANGE = (-24.0, 0.0)  # random level of each training segment, relative to the clip's peak at -1 dBFS
#: Segments quieter than this RMS (relative to full scale, after peak normalisation) are redrawn.
MIN_SEGMENT_RMS = 0.01
DEFAULT_EVAL_CLIPS_PER_SOURCE = 8
DEFAULT_EVAL_SECONDS = 12.0
TRAIN_COMMAND = "provguard generate train audio --seed {seed} --minutes {minutes:g}"


@dataclass(frozen=True)
class SpeechClip:
    """One 16 kHz corpus clip in memory."""

    name: str
    source: str
    speaker: str | None
    original_rate: int | None
    samples: np.ndarray


def load_speech_split(split: str, corpus_dir: Path | None = None, *, max_seconds: float | None = None) -> list[SpeechClip]:
    """The corpus speech clips of one split as float32 16 kHz mono (optionally each cut to max_seconds)."""
    import soundfile as sf
    from scipy.signal import resample_poly

    from provguard.generate.corpus import default_corpus_dir, load_corpus

    root = Path(corpus_dir) if corpus_dir is not None else default_corpus_dir()
    clips = []
    for item in sorted(load_corpus(root), key=lambda i: i.path):
        if item.kind != "speech" or item.split != split:
            continue
        samples, rate = sf.read(str(root / item.path), dtype="float32", always_2d=True)
        x = samples.mean(axis=1)
        if rate != melfe.SAMPLE_RATE:
            g = math.gcd(rate, melfe.SAMPLE_RATE)
            x = resample_poly(x, melfe.SAMPLE_RATE // g, rate // g).astype(np.float32)
        if max_seconds is not None:
            x = x[: int(max_seconds * melfe.SAMPLE_RATE)]
        if x.shape[0] >= melfe.SAMPLE_RATE // 2 and np.abs(x).max() > 1e-4:
            clips.append(SpeechClip(item.path, item.source, item.speaker, item.original_rate, x))
    if not clips:
        raise InputError(f"the corpus at {root} holds no usable {split} speech: run `provguard corpus build`")
    return clips


class _Segments:
    """Random (log-mel, waveform) training pairs cut at frame boundaries from peak-normalised clips."""

    def __init__(self, clips: Sequence[SpeechClip], rng: np.random.Generator, *, track_f0: bool = False) -> None:
        self.rng = rng
        self.waves = [c.samples / max(float(np.abs(c.samples).max()), 1e-6) * 0.89 for c in clips]
        self.waves = [np.pad(w, (0, max(0, (SEGMENT_FRAMES + 1) * melfe.HOP - w.shape[0]))) for w in self.waves]
        lengths = np.array([w.shape[0] for w in self.waves], dtype=np.float64)
        self.weights = lengths / lengths.sum()
        self.f0 = [track_pitch(w, hop=melfe.HOP) for w in self.waves] if track_f0 else []  # one per mel frame

    def batch(self, size: int, harmonics: int = 0) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Log-mels (size x N_MELS x SEGMENT_FRAMES), source signals (size x harmonics+1 x samples, or None), waves."""
        from provguard.generate.vocoder import source_signal

        seg = SEGMENT_FRAMES * melfe.HOP
        waves = np.empty((size, seg), dtype=np.float32)
        sources = np.empty((size, harmonics + 1, seg) if harmonics else (0,), dtype=np.float32)
        for b in range(size):
            for _ in range(8):
                pick = int(self.rng.choice(len(self.waves), p=self.weights))
                w = self.waves[pick]
                frame = int(self.rng.integers(0, (w.shape[0] - seg) // melfe.HOP + 1))
                piece = w[frame * melfe.HOP: frame * melfe.HOP + seg]
                if np.sqrt(np.mean(piece**2)) >= MIN_SEGMENT_RMS:
                    break
            gain = 10 ** (self.rng.uniform(*GAIN_DB_RANGE) / 20)
            waves[b] = piece * gain
            if harmonics:
                f0 = self.f0[pick][frame: frame + SEGMENT_FRAMES]
                sources[b] = source_signal(f0, seg, harmonics=harmonics, seed=int(self.rng.integers(2**31)))
        mels = np.stack([melfe.log_mel(w)[:, :SEGMENT_FRAMES] for w in waves])
        return mels, (sources if harmonics else None), waves


def _stft_loss(fake: Any, real: Any) -> Any:
    """Multi-resolution STFT loss: spectral convergence + log-magnitude L1, averaged over resolutions."""
    import torch

    total = fake.new_zeros(())
    for n_fft, hop in STFT_RESOLUTIONS:
        window = torch.hann_window(n_fft)
        f = torch.stft(fake, n_fft, hop, n_fft, window, return_complex=True).abs().clamp_min(1e-7)
        r = torch.stft(real, n_fft, hop, n_fft, window, return_complex=True).abs().clamp_min(1e-7)
        convergence = torch.linalg.norm(r - f) / torch.linalg.norm(r).clamp_min(1e-7)
        total = total + convergence + (torch.log(r) - torch.log(f)).abs().mean()
    return total / len(STFT_RESOLUTIONS)


def _discriminator(periods: Sequence[int]) -> Any:
    """A small HiFi-GAN-style multi-period discriminator: one 2-D conv stack per period."""
    import torch
    from torch import nn
    from torch.nn import functional as F
    from torch.nn.utils.parametrizations import weight_norm

    class Period(nn.Module):
        def __init__(self, period: int) -> None:
            super().__init__()
            self.period = period
            chans = (1, 16, 32, 64, 64)
            self.convs = nn.ModuleList(
                weight_norm(nn.Conv2d(chans[i], chans[i + 1], (5, 1), (3 if i < 3 else 1, 1), padding=(2, 0)))
                for i in range(len(chans) - 1)
            )
            self.out = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), padding=(1, 0)))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
            b, t = x.shape
            if t % self.period:
                x = F.pad(x, (0, self.period - t % self.period), mode="reflect")
            x = x.view(b, 1, -1, self.period)
            features = []
            for conv in self.convs:
                x = F.leaky_relu(conv(x), 0.1)
                features.append(x)
            return self.out(x).flatten(1), features

    class MultiPeriod(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.discs = nn.ModuleList(Period(p) for p in periods)

        def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
            return [d(x) for d in self.discs]

    return MultiPeriod()


def _learning_rate(step: int, total: int) -> float:
    """Linear warm-up, then cosine decay from LEARNING_RATE to FINAL_LEARNING_RATE."""
    if step < WARMUP_STEPS:
        return LEARNING_RATE * (step + 1) / WARMUP_STEPS
    progress = min(1.0, (step - WARMUP_STEPS) / max(1, total - WARMUP_STEPS))
    return FINAL_LEARNING_RATE + 0.5 * (LEARNING_RATE - FINAL_LEARNING_RATE) * (1 + math.cos(math.pi * progress))


def _step_generator(generator: Any, disc: Any, opt: Any, mels: Any, source: Any, real: Any, use_gan: bool) -> dict[str, float]:
    """One generator update; returns its loss terms."""
    import torch

    fake = generator(mels, source)[:, 0]
    stft = _stft_loss(fake, real)
    mel_l1 = (melfe.log_mel_torch(fake) - melfe.log_mel_torch(real)).abs().mean()
    loss = stft + MEL_WEIGHT * mel_l1
    terms = {"stft": stft.item(), "mel": mel_l1.item()}
    if use_gan:
        with torch.no_grad():
            real_out = disc(real)
        fake_out = disc(fake)
        adv = sum(torch.mean((1 - score) ** 2) for score, _ in fake_out)
        fm = sum(
            torch.mean(torch.abs(f - r)) for (_, ff), (_, rf) in zip(fake_out, real_out) for f, r in zip(ff, rf)
        ) / max(1, sum(len(rf) for _, rf in real_out))
        loss = loss + ADVERSARIAL_WEIGHT * adv + FEATURE_WEIGHT * fm
        terms.update(adv=adv.item(), fm=fm.item())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(generator.parameters(), 10.0)
    opt.step()
    terms["fake"] = fake.detach()  # type: ignore[assignment]
    return terms


def _step_discriminator(disc: Any, opt: Any, fake: Any, real: Any) -> float:
    """One least-squares discriminator update."""
    import torch

    loss = sum(
        torch.mean((1 - r) ** 2) + torch.mean(f**2) for (r, _), (f, _) in zip(disc(real), disc(fake))
    )
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def train_generator(
    clips: Sequence[SpeechClip],
    *,
    seed: int = 0,
    steps: int = STEPS,
    minutes: float = 25.0,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train a fresh generator on clips for `steps` (or until `minutes` pass); return it and a training log."""
    import torch

    from provguard.generate.vocoder import DEFAULT_CONFIG, build_generator, export_state

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(seed)
    data = _Segments(clips, rng, track_f0=DEFAULT_CONFIG.harmonics > 0)
    generator = build_generator(DEFAULT_CONFIG, weight_norm=True)
    g_opt = torch.optim.AdamW(generator.parameters(), LEARNING_RATE, betas=(0.8, 0.99), weight_decay=0.0)
    gan_from = int(steps * GAN_START) if GAN_START is not None else steps + 1
    disc = _discriminator(PERIODS) if gan_from <= steps else None
    d_opt = torch.optim.AdamW(disc.parameters(), 2e-4, betas=(0.8, 0.99)) if disc is not None else None
    start = time.perf_counter()
    deadline = start + minutes * 60.0
    history: list[dict[str, float]] = []
    done = 0
    for step in range(steps):
        if time.perf_counter() > deadline:
            break
        lr = _learning_rate(step, steps)
        for group in g_opt.param_groups:
            group["lr"] = lr
        mels_np, sources_np, waves_np = data.batch(BATCH, generator.config.harmonics)
        mels, real = torch.from_numpy(mels_np), torch.from_numpy(waves_np)
        source = torch.from_numpy(sources_np) if sources_np is not None else None
        use_gan = disc is not None and step >= gan_from
        terms = _step_generator(generator, disc, g_opt, mels, source, real, use_gan)
        fake = terms.pop("fake")
        if use_gan:
            terms["disc"] = _step_discriminator(disc, d_opt, fake, real)  # type: ignore[arg-type]
        done = step + 1
        if step % 50 == 0 or done == steps:
            history.append({"step": step, "seconds": round(time.perf_counter() - start, 1), "lr": lr,
                            **{k: round(v, 4) for k, v in terms.items()}})
            if progress is not None:
                progress(" ".join(f"{k}={v}" for k, v in history[-1].items()))
    generator.eval()
    log = {
        "steps": done,
        "planned_steps": steps,
        "stopped_by_time": done < steps,
        "gan_from_step": gan_from if disc is not None else None,
        "train_seconds": round(time.perf_counter() - start, 1),
        "threads": torch.get_num_threads(),
        "parameters": sum(v.numel() for v in export_state(generator).values() if hasattr(v, "numel")),
        "history": history,
    }
    return generator, log


def select_per_source(clips: Sequence[SpeechClip], per_source: int) -> list[SpeechClip]:
    """Up to per_source clips of each source, evenly spaced through its (path-sorted) clips."""
    by: dict[str, list[SpeechClip]] = {}
    for clip in clips:
        by.setdefault(clip.source, []).append(clip)
    chosen = []
    for source in sorted(by):
        group = by[source]
        if per_source > 0:
            idx = np.unique(np.linspace(0, len(group) - 1, min(per_source, len(group))).round().astype(int))
            chosen += [group[i] for i in idx]
    return chosen


def evaluate_vocoders(
    clips: Sequence[SpeechClip], *, model: Any = None, seed: int = 0, vocoders: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Mean log-mel distance (dB) to the real clip and real-time factor of each vocoder over clips."""
    from provguard.generate.audio import VOCODERS, resynthesize

    results: dict[str, dict[str, Any]] = {}
    total_seconds = sum(c.samples.shape[0] for c in clips) / melfe.SAMPLE_RATE
    for name in vocoders or VOCODERS:
        distances, elapsed, by_source = [], 0.0, {}
        for clip in clips:
            t0 = time.perf_counter()
            out, _ = resynthesize(clip.samples, melfe.SAMPLE_RATE, vocoder=name, seed=seed, model=model)
            elapsed += time.perf_counter() - t0
            distances.append(melfe.mel_distance_db(clip.samples, out))
            by_source.setdefault(clip.source, []).append(distances[-1])
        results[name] = {
            "mel_distance_db": round(float(np.mean(distances)), 3),
            "mel_distance_db_median": round(float(np.median(distances)), 3),
            "real_time_factor": round(elapsed / total_seconds, 4),
            "clips": len(clips),
            "seconds": round(total_seconds, 1),
            "by_source": {k: round(float(np.mean(v)), 3) for k, v in sorted(by_source.items())},  # type: ignore[dict-item]
        }
    return results


def _card(log: dict[str, Any], metrics: dict[str, dict[str, Any]], train: Sequence[SpeechClip],
          test: Sequence[SpeechClip], weight_bytes: int, seed: int, minutes: float) -> str:
    """The model card (markdown) for the vocoder weights."""
    from provguard.generate.audio import software_agent
    from provguard.generate.vocoder import DEFAULT_CONFIG, MODEL_NAME, MODEL_VERSION

    def minutes_by_source(clips: Sequence[SpeechClip]) -> str:
        by: dict[str, float] = {}
        for c in clips:
            by[c.source] = by.get(c.source, 0.0) + c.samples.shape[0] / melfe.SAMPLE_RATE
        return ", ".join(f"{k} {v / 60:.1f} min" for k, v in sorted(by.items()))

    sources = sorted({c.source for c in test})
    rows = "\n".join(
        f"| {v} (`{software_agent(v)}`) | {m['mel_distance_db']:.2f} | {m['mel_distance_db_median']:.2f} | "
        + " | ".join(f"{m['by_source'].get(src, float('nan')):.2f}" for src in sources)
        + f" | {m['real_time_factor']:.3f} |"
        for v, m in metrics.items()
    )
    train_min = sum(c.samples.shape[0] for c in train) / melfe.SAMPLE_RATE / 60
    train_speakers = {c.speaker for c in train if c.speaker}
    test_speakers = {c.speaker for c in test if c.speaker}
    unseen = sorted(test_speakers - train_speakers)
    last = log["history"][-1] if log["history"] else {}
    cfg = DEFAULT_CONFIG
    source_note = (
        f" A neural source-filter module mixes {cfg.harmonics} harmonic sines at the input's f0 (YIN, `lpc.py`) and noise"
        " into an excitation added at every stage." if cfg.harmonics else ""
    )
    return f"""# vocoder.pt: {MODEL_NAME}@{MODEL_VERSION}

A small HiFi-GAN-style neural vocoder: 80-band log-mel (16 kHz, n_fft {melfe.N_FFT}, hop {melfe.HOP}, 0-8 kHz) -> waveform.
Generator: a 7-tap input conv to {cfg.channels} channels, then {len(cfg.upsample)} stages of transposed-conv upsampling
({' x '.join(map(str, cfg.upsample))} = {melfe.HOP}, halving the channels each time), each followed by a residual block of
dilated convs (kernel {cfg.kernel}, dilations {cfg.dilations}), a 7-tap output conv and tanh.{source_note}
{log['parameters']:,} parameters, shipped as float16: {weight_bytes / 1e6:.2f} MB.

Losses: multi-resolution STFT (spectral convergence + log-magnitude L1 at n_fft/hop
{', '.join(f'{n}/{h}' for n, h in STFT_RESOLUTIONS)}) + {MEL_WEIGHT:g} x log-mel L1; from step {log['gan_from_step']}
a small multi-period discriminator (periods {PERIODS}, least-squares GAN) adds adversarial (x{ADVERSARIAL_WEIGHT:g}) and
feature-matching (x{FEATURE_WEIGHT:g}) terms. AdamW, lr {LEARNING_RATE:g} -> {FINAL_LEARNING_RATE:g} (warm-up, cosine),
batch {BATCH} x {SEGMENT_FRAMES * melfe.HOP} samples, random level {GAIN_DB_RANGE[0]:g}..{GAIN_DB_RANGE[1]:g} dB.

## Training data

The provguard corpus (`provguard corpus build`), speech, **train split only**: {len(train)} clips, {train_min:.1f} min,
{len(train_speakers)} speakers ({minutes_by_source(train)}). Every clip is 16 kHz; clips recorded at 8 kHz carry nothing
above 4 kHz.

## Training run

- command: `{TRAIN_COMMAND.format(seed=seed, minutes=minutes)}`
- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}
- machine: {platform.machine()} CPU, {log['threads']} torch thread(s), no GPU
- steps: {log['steps']} of {log['planned_steps']} planned{' (stopped by the time limit)' if log['stopped_by_time'] else ''}
- training time: {log['train_seconds'] / 60:.1f} min wall
- last logged losses: {', '.join(f'{k} {v}' for k, v in last.items() if k not in ('step', 'seconds', 'lr'))}

## Evaluation on the corpus **test split**

{len(test)} test clips (up to {DEFAULT_EVAL_CLIPS_PER_SOURCE} per source, each cut to {DEFAULT_EVAL_SECONDS:g} s;
{metrics[next(iter(metrics))]['seconds']:.0f} s in all). Test utterances are never in the train split; speakers seen only in
test: {', '.join(unseen) if unseen else 'none (the corpus splits by utterance, and its speakers recur across splits)'}.
Mel distance: mean absolute difference of the 80-band log-mel in dB between the real clip and its resynthesis,
over the frames within {melfe.ACTIVE_RANGE_DB:g} dB of the loudest (lower is closer). Real-time factor: CPU wall seconds per
second of audio, 1 torch thread (lower is faster).

| vocoder | mel distance mean (dB) | median (dB) | {' | '.join(sources)} | real-time factor |
|---|---|---|{'---|' * len(sources)}---|
{rows}

Griffin-Lim scores best on this metric by construction (it fits the STFT magnitude the mel implies and nothing else);
its phase is not coherent, which the metric does not see. The neural vocoder must generate the phase too.

## Limits

Trained for minutes on CPU on about an hour of speech from few speakers: its output is intelligible but buzzy and
metallic, with the periodic transposed-convolution artifacts of its family (what spoof detectors look for). It is a
reference generator for tests and detector training, not a speech-quality vocoder. Its output carries a strong
62.5 Hz (frame-rate) buzz: it follows the mel's spectral envelope but not its harmonics, so `--pitch` moves the
envelope of the neural output only weakly and a pitch tracker still reads the frame rate.
"""


def _as_shipped(generator: Any) -> Any:
    """A plain copy of the generator with its weights rounded through float16, as they ship."""
    import torch

    from provguard.generate.vocoder import CONFIG_KEY, build_generator, export_state

    state = export_state(generator)
    model = build_generator(generator.config)
    model.load_state_dict({k: v.to(torch.float16).float() for k, v in state.items() if k != CONFIG_KEY})
    return model.eval()


def train_vocoder(
    *,
    seed: int = 0,
    minutes: float = 25.0,
    corpus_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    steps: int = STEPS,
    threads: int | None = 1,
    output_dir: Path | None = None,
    eval_clips: int = DEFAULT_EVAL_CLIPS_PER_SOURCE,
) -> dict[str, Any]:
    """Train on the corpus train split, save vocoder.pt and vocoder.md, return the log and the test-split metrics."""
    from provguard.fileio import atomic_write
    from provguard.generate.vocoder import WEIGHTS_NAME, export_state
    from provguard.generate.weights_io import save_weights

    if minutes <= 0 or steps <= 0:
        raise InputError("training needs a positive number of minutes and steps")
    train = load_speech_split("train", corpus_dir)
    test = load_speech_split("test", corpus_dir, max_seconds=DEFAULT_EVAL_SECONDS)
    test = select_per_source(test, eval_clips)
    if progress:
        progress(f"training on {len(train)} train clips, evaluating on {len(test)} test clips")
    generator, log = train_generator(train, seed=seed, steps=steps, minutes=minutes, threads=threads, progress=progress)
    path = save_weights(export_state(generator), WEIGHTS_NAME, output_dir)
    if progress:
        progress(f"saved {path}; evaluating on the test split")
    metrics = evaluate_vocoders(test, model=_as_shipped(generator), seed=seed) if test else {}
    if metrics:
        card = _card(log, metrics, train, test, path.stat().st_size, seed, minutes)
        atomic_write(path.with_suffix(".md"), card.encode("utf-8"))
    return {"weights": str(path), "weight_bytes": path.stat().st_size, "metrics": metrics,
            **{k: v for k, v in log.items() if k != "history"}, "final": log["history"][-1] if log["history"] else {}}
