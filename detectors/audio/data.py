"""Real and fake speech sets: corpus clips (per split) against their resyntheses, cached on disk as WAV."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from provguard.errors import InputError

RATE = 16000
#: Fake families: three vocoders plus pitch-shifted resynthesis (neural or LPC, +-2..4 semitones).
FAMILIES = ("neural", "griffinlim", "lpc", "pitch")
#: Clips are cut to this length before resynthesis (keeps generation time bounded).
MAX_CLIP_SECONDS = 4.0
#: Default number of corpus clips per split (subsampled with the seed) used by training and the bench.
DEFAULT_CLIPS = {"train": 480, "val": 140, "test": 240}
CACHE_VERSION = "v1"
#: The corpus calls the validation split "val".
SPLIT_NAMES = {"validation": "val", "val": "val", "train": "train", "test": "test"}


@dataclass(frozen=True)
class Utterance:
    """One 16 kHz mono utterance: label 0 real, 1 fake; family is "real" or one of FAMILIES."""

    name: str
    source: str
    family: str
    label: int
    samples: np.ndarray


def fakes_dir(corpus_dir: Path | None = None) -> Path:
    """Where generated fakes are cached: <data>/fakes/audio (next to the corpus), never in git."""
    from provguard.generate.corpus import default_corpus_dir

    root = Path(corpus_dir) if corpus_dir is not None else default_corpus_dir()
    return root.parent / "fakes" / "audio" / CACHE_VERSION


def family_recipe(family: str, name: str, seed: int) -> tuple[str, float, int]:
    """(vocoder, pitch in semitones, seed) used to make the `family` fake of the clip called `name`."""
    key = zlib.crc32(f"{name}|{family}|{seed}".encode())
    rng = np.random.default_rng(key)
    if family == "pitch":
        vocoder = "neural" if key % 2 == 0 else "lpc"
        pitch = float(rng.choice([-1.0, 1.0]) * rng.uniform(2.0, 4.0))
        return vocoder, round(pitch, 2), key & 0x7FFFFFFF
    if family not in FAMILIES:
        raise InputError(f"unknown fake family {family!r}; choose one of {', '.join(FAMILIES)}")
    return family, 0.0, key & 0x7FFFFFFF


def real_clips(split: str, n: int | None, *, seed: int = 0, corpus_dir: Path | None = None) -> list[Utterance]:
    """Up to n corpus speech clips of one split (a seeded subsample, cut to MAX_CLIP_SECONDS), label 0."""
    from provguard.generate.train_audio import load_speech_split

    clips = load_speech_split(SPLIT_NAMES[split], corpus_dir, max_seconds=MAX_CLIP_SECONDS)
    order = np.random.default_rng(zlib.crc32(f"{split}|{seed}".encode())).permutation(len(clips))
    if n is not None:
        order = order[:n]
    picked = [clips[i] for i in sorted(order)]
    return [Utterance(c.name, c.source, "real", 0, c.samples.astype(np.float32)) for c in picked]


def _cache_path(root: Path, split: str, family: str, name: str) -> Path:
    """The cached WAV of one fake."""
    safe = name.replace("/", "__").rsplit(".", 1)[0]
    return root / SPLIT_NAMES[split] / family / f"{safe}.wav"


def _write_wav(path: Path, samples: np.ndarray) -> None:
    """Write 16-bit PCM WAV atomically."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.wav")
    sf.write(str(tmp), np.clip(samples, -1, 1).astype(np.float32), RATE, subtype="PCM_16")
    os.replace(tmp, path)


def fake_clips(
    reals: list[Utterance],
    split: str,
    families: tuple[str, ...] = FAMILIES,
    *,
    seed: int = 0,
    corpus_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Utterance]:
    """The fakes of each real clip for every family, made with resynthesize on first use and cached as WAV."""
    import soundfile as sf

    from provguard.generate.audio import resynthesize

    root = fakes_dir(corpus_dir)
    out = []
    made = 0
    for i, real in enumerate(reals):
        for family in families:
            path = _cache_path(root, split, family, real.name)
            if path.exists():
                samples, _ = sf.read(str(path), dtype="float32")
            else:
                vocoder, pitch, fseed = family_recipe(family, real.name, seed)
                samples, _ = resynthesize(real.samples, RATE, vocoder=vocoder, pitch=pitch, seed=fseed)
                _write_wav(path, samples)
                made += 1
            out.append(Utterance(real.name, real.source, family, 1, samples.astype(np.float32)))
        if progress is not None and made and (i + 1) % 50 == 0:
            progress(f"{split}: fakes for {i + 1}/{len(reals)} clips ({made} made)")
    return out


def load_split(
    split: str,
    n: int | None = None,
    families: tuple[str, ...] = FAMILIES,
    *,
    seed: int = 0,
    corpus_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Utterance]:
    """Real clips of a split and their fakes (every family), n real clips (default DEFAULT_CLIPS)."""
    count = DEFAULT_CLIPS[SPLIT_NAMES[split]] if n is None else n
    reals = real_clips(split, count, seed=seed, corpus_dir=corpus_dir)
    return reals + fake_clips(reals, split, families, seed=seed, corpus_dir=corpus_dir, progress=progress)
