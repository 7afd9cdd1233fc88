"""Train the audio detectors (LFCC-LCNN and LFCC-GMM) on corpus speech against vocoded fakes; calibrate; write weights."""

from __future__ import annotations

import datetime as dt
import math
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.audio.data import DEFAULT_CLIPS, FAMILIES, Utterance, load_split

#: LCNN optimisation steps of a full run (fixed, so a seed gives the same weights); `minutes` only caps wall time.
STEPS = 2000
BATCH = 32
#: The LCNN's front-end (chosen by measurement over LFCC: lower EER after MP3 and telephony); the GMM uses LFCC.
FRONTEND = "logspec"
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
WIDTH = 16
#: Augmented copies per training utterance (besides the clean one).
N_AUG = 1
#: Random level change applied in feature space (dB range), on top of the waveform augmentations.
GAIN_DB = (-20.0, 6.0)
TRAIN_COMMAND = "provguard train audio --seed {seed}"
VERSION = "1.0"


@dataclass
class FeatureSet:
    """LFCC matrices with labels (1 = fake), families and condition names, one row per (utterance, variant)."""

    feats: list[np.ndarray]
    labels: np.ndarray
    families: list[str]
    conditions: list[str]

    def subset(self, keep: Sequence[bool]) -> FeatureSet:
        """The rows where keep is true."""
        idx = [i for i, k in enumerate(keep) if k]
        return FeatureSet([self.feats[i] for i in idx], self.labels[idx], [self.families[i] for i in idx],
                          [self.conditions[i] for i in idx])


def _rng(*parts: object) -> np.random.Generator:
    """A generator seeded from a stable hash of the parts (independent of processing order)."""
    return np.random.default_rng(zlib.crc32("|".join(map(str, parts)).encode()))


def featurize(
    utts: Sequence[Utterance], *, seed: int, n_aug: int = N_AUG, clean: bool = True, frontend: str = "lfcc"
) -> FeatureSet:
    """Features of each utterance: the clean signal (optional) plus n_aug randomly augmented copies."""
    from detectors.audio.augment import augment
    from detectors.audio.features import extract

    feats, labels, fams, conds = [], [], [], []
    for u in utts:
        variants = [("clean", u.samples)] if clean else []
        for k in range(n_aug):
            y, name = augment(u.samples, _rng(u.name, u.family, seed, k))
            variants.append((name, y))
        for name, y in variants:
            feats.append(extract(y, frontend))
            labels.append(u.label)
            fams.append(u.family)
            conds.append(name)
    return FeatureSet(feats, np.asarray(labels, dtype=np.int64), fams, conds)


def _crop(feat: np.ndarray, rng: np.random.Generator, win: int) -> np.ndarray:
    """A random win-frame crop (short matrices tiled)."""
    from detectors.audio.scoring import fit_length

    if feat.shape[0] > win:
        start = int(rng.integers(0, feat.shape[0] - win + 1))
        return feat[start:start + win]
    return fit_length(feat, win)


def _learning_rate(step: int, total: int) -> float:
    """Short linear warm-up then cosine decay to zero."""
    warm = max(1, total // 20)
    if step < warm:
        return LEARNING_RATE * (step + 1) / warm
    return 0.5 * LEARNING_RATE * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def train_lcnn(
    data: FeatureSet,
    *,
    seed: int = 0,
    steps: int = STEPS,
    width: int = WIDTH,
    batch: int = BATCH,
    max_seconds: float | None = None,
    frontend: str = "lfcc",
    progress: Callable[[str], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train an LCNN on class-balanced random 1 s crops; returns (net in eval mode, training info)."""
    import torch

    from detectors.audio.features import FRONTENDS, N_FILTERS
    from detectors.audio.lcnn import LCNN
    from detectors.audio.scoring import WINDOW_FRAMES

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dim = FRONTENDS[frontend][1]
    net = LCNN(dim=dim, width=width)
    # a level change of g shifts every log band energy by 2 ln g: LFCC c0 by that times sqrt(N_FILTERS), spectra in every bin
    gain_axis = np.zeros(dim, np.float32)
    if frontend == "lfcc":
        gain_axis[0] = math.sqrt(N_FILTERS)
    else:
        gain_axis[:] = 1.0
    stacked = np.concatenate(data.feats)
    net.mean.copy_(torch.from_numpy(stacked.mean(axis=0)))
    net.std.copy_(torch.from_numpy(stacked.std(axis=0) + 1e-5))
    real = np.flatnonzero(data.labels == 0)
    fake = np.flatnonzero(data.labels == 1)
    opt = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    start = time.monotonic()
    net.train()
    done, running = 0, 0.0
    for step in range(steps):
        if max_seconds is not None and time.monotonic() - start > max_seconds:
            break
        half = batch // 2
        picks = np.concatenate([rng.choice(real, half), rng.choice(fake, batch - half)])
        x = np.stack([_crop(data.feats[i], rng, WINDOW_FRAMES) for i in picks]).copy()
        x += (2 * np.log(10 ** (rng.uniform(*GAIN_DB, size=batch) / 20)))[:, None, None] * gain_axis
        y = torch.from_numpy(data.labels[picks].astype(np.float32))
        for group in opt.param_groups:
            group["lr"] = _learning_rate(step, steps)
        loss = loss_fn(net(torch.from_numpy(x.astype(np.float32))), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running = 0.95 * running + 0.05 * loss.item() if step else loss.item()
        done = step + 1
        if progress is not None and done % 100 == 0:
            progress(f"lcnn step {done}/{steps} loss {running:.4f} ({time.monotonic() - start:.0f} s)")
    net.eval()
    return net, {"steps": done, "planned_steps": steps, "seconds": round(time.monotonic() - start, 1),
                 "final_loss": round(running, 5), "params": sum(p.numel() for p in net.parameters())}


def raw_scores(scorer: Callable[[np.ndarray], tuple[float, np.ndarray, Any]], data: FeatureSet) -> np.ndarray:
    """Utterance raw scores of every row."""
    return np.array([scorer(f)[0] for f in data.feats], dtype=np.float64)


def metrics(labels: np.ndarray, raw: np.ndarray, calibrator: Any = None) -> dict[str, float]:
    """AUC, AP and EER on raw scores (calibration is monotone; raw avoids ties at the probability clip), accuracy at 0.5."""
    from detectors.metrics import binary_metrics

    m = binary_metrics(labels, raw)
    m.pop("accuracy")
    if calibrator is not None:
        m["accuracy"] = float(np.mean((calibrator(raw) >= 0.5) == (labels == 1)))
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in m.items()}


def per_family(labels: np.ndarray, families: list[str], raw: np.ndarray, calibrator: Any = None) -> dict[str, dict]:
    """Metrics of real vs each fake family, and of all fakes together."""
    fam = np.asarray(families)
    out = {"all": metrics(labels, raw, calibrator)}
    for f in sorted(set(families) - {"real"}):
        keep = (fam == "real") | (fam == f)
        out[f] = metrics(labels[keep], raw[keep], calibrator)
    return out


def _lcnn_scorer(net: Any) -> Callable[[np.ndarray], tuple[float, np.ndarray, Any]]:
    """A features -> (utterance raw, window raws, bounds) function for a bare network."""
    from detectors.audio.lcnn import LcnnDetector

    det = LcnnDetector(device="cpu", net=net, calibrator=object())
    return det.raw_features


def _describe(train: dict[str, Any]) -> str:
    """One line about a training run."""
    if "steps" in train:
        note = "" if train["steps"] == train["planned_steps"] else f" (stopped by the time cap; planned {train['planned_steps']})"
        return (f"{train['steps']} AdamW steps{note} of {BATCH} random 1 s crops (half real, half fake), cosine "
                f"learning rate from {LEARNING_RATE:g}, 1 CPU thread, {train['seconds']:.0f} s.")
    return ", ".join(f"{k}: {v}" for k, v in train.items())


def _card(name: str, arch: str, summary: dict[str, Any], info: dict[str, Any], seed: int) -> str:
    """A markdown model card."""
    rows = "\n".join(
        f"| {fam} | {m['eer'] * 100:.2f} | {m['auc']:.4f} | {m.get('accuracy', float('nan')):.3f} | {m['n_real']} | {m['n_fake']} |"
        for fam, m in summary["test_clean"].items()
    )
    return f"""# {name}

{arch}

- **Version:** {VERSION}
- **Date:** {summary['date']}
- **Reproduce:** `{TRAIN_COMMAND.format(seed=seed)}` (from the repo root; needs the corpus: `provguard corpus build`)
- **Training data:** real-media corpus speech (kind `speech`: klettres, Asterisk prompts (WAV and G.722), codec2,
  LibriVox), a seeded subsample of {info['clips']['train']} train / {info['clips']['val']} validation /
  {info['clips']['test']} test clips (each cut to 4 s), against their resyntheses by the reference generator
  (`provguard.generate.audio.resynthesize`): families {', '.join(info['families'])} (pitch = neural or LPC vocoder
  shifted by 2-4 semitones either way). Splits are the corpus's, fixed by source file; fakes are made from the clips
  of the same split, so test utterances were never seen, but test speakers were (KLettres has one speaker per
  language in every split; Asterisk is one speaker): `python -m bench.bench_detect_audio_speakers` measures speakers
  held out of training.
- **Augmentation (both classes):** MP3 64-192 kb/s (PyAV), resampling through 8 kHz (telephony) and 11-44 kHz,
  white noise at 10-35 dB SNR, random level; each utterance used clean and once augmented.
- **Calibration:** Platt scaling on the validation split (clean and augmented copies).
- **Training:** {_describe(info.get('train', {}))}
- **Scores:** utterance score = the calibrated raw score of the whole clip (LCNN: mean logit over 1 s windows
  with a 0.5 s hop; GMM: mean frame log-likelihood ratio); `regions` give each 1 s window's calibrated score with
  start/end in seconds.

## Test split, clean audio (real vs each fake family; EER in %)

| family | EER % | AUC | accuracy @0.5 | real | fake |
|---|---|---|---|---|---|
{rows}

Robustness (MP3, 8 kHz telephony, noise) and the leave-one-family-out table: `python -m bench.bench_detect_audio`
(see BENCHMARKS.md).
"""


def train_audio_detectors(
    *,
    seed: int = 0,
    minutes: float = 25.0,
    corpus_dir: Path | None = None,
    out_dir: Path | None = None,
    threads: int = 1,
    progress: Callable[[str], None] | None = None,
    steps: int = STEPS,
    clips: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Make/cache the fakes, train LCNN and GMM, calibrate on validation, evaluate on test, write weights and cards."""
    import torch

    from detectors.audio import baselines, lcnn
    from detectors.calibration import Calibrator
    from detectors.weights import save_json, save_torch_state, write_text

    torch.set_num_threads(max(1, int(threads)))
    say = progress or (lambda _msg: None)
    counts = {**DEFAULT_CLIPS, **(clips or {})}
    t0 = time.monotonic()
    sets = {}
    for split in ("train", "val", "test"):
        say(f"loading {split} speech and fakes")
        sets[split] = load_split(split, counts[split], seed=seed, corpus_dir=corpus_dir, progress=say)
    say(f"data ready ({time.monotonic() - t0:.0f} s); computing features")
    feats = {}
    for frontend in dict.fromkeys((FRONTEND, "lfcc")):
        feats[frontend] = (featurize(sets["train"], seed=seed, frontend=frontend),
                           featurize(sets["val"], seed=seed + 1, frontend=frontend),
                           featurize(sets["test"], seed=seed + 2, n_aug=0, frontend=frontend))
    say(f"features ready ({time.monotonic() - t0:.0f} s): {len(feats['lfcc'][0].feats)} train rows")

    remaining = minutes * 60 - (time.monotonic() - t0) - 150  # leave time for the GMM, calibration and tests
    net, train_info = train_lcnn(feats[FRONTEND][0], seed=seed, steps=steps, max_seconds=max(60.0, remaining),
                                 frontend=FRONTEND, progress=say)
    say(f"fitting the GMM baseline ({time.monotonic() - t0:.0f} s)")
    lf = feats["lfcc"][0]
    pair = baselines.train_gmm_pair([f for f, y in zip(lf.feats, lf.labels) if y == 0],
                                    [f for f, y in zip(lf.feats, lf.labels) if y == 1], seed)

    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    info = {"clips": counts, "families": list(FAMILIES), "seed": seed}
    results: dict[str, Any] = {"seconds": 0.0}
    files = []
    for name, scorer, frontend in (("audio-lcnn", _lcnn_scorer(net), FRONTEND), ("audio-lfcc-gmm", pair.raw, "lfcc")):
        _, val, test = feats[frontend]
        cal = Calibrator.fit(raw_scores(scorer, val), val.labels, method="platt")
        test_raw = raw_scores(scorer, test)
        summary = {"date": date, "test_clean": per_family(test.labels, test.families, test_raw, cal),
                   "validation": metrics(val.labels, raw_scores(scorer, val), cal)}
        meta = {"version": VERSION, "calibration": cal.to_dict(), "date": date, "seed": seed,
                "command": TRAIN_COMMAND.format(seed=seed), "metrics": summary, **info}
        if name == "audio-lcnn":
            # wall time stays out of the sidecar so that a seed gives the same bytes (the card records it)
            meta.update(width=WIDTH, frontend=FRONTEND, train={k: v for k, v in train_info.items() if k != "seconds"})
            files.append(save_torch_state(net.state_dict(), lcnn.WEIGHTS, out_dir))
            files.append(save_json(meta, lcnn.SIDECAR, out_dir))
            arch = (f"LCNN on a log power spectrogram (20 ms Hann windows, 10 ms hop, 512-point FFT, bins pooled in "
                    f"pairs: 128 bands over 0-8 kHz, normalised per band) -> a light CNN with max-feature-map "
                    f"activations ({train_info['params']} parameters, float16), over 1 s windows. Chosen over the "
                    f"LFCC input by measurement on the validation split (lower EER after MP3 and 8 kHz telephony).")
            info_card = {**info, "train": train_info}
        else:
            meta.update({"real": pair.real.to_dict(), "fake": pair.fake.to_dict(), "components": baselines.COMPONENTS})
            files.append(save_json(meta, baselines.SIDECAR, out_dir))
            arch = (f"LFCC-GMM baseline: LFCC (20 cepstra from 40 linear filters, 20 ms / 10 ms, + deltas and "
                    f"delta-deltas), one {baselines.COMPONENTS}-component diagonal Gaussian mixture per class "
                    f"(scikit-learn), raw score = mean frame log-likelihood ratio.")
            info_card = {**info, "train": {"frames_per_class": baselines.MAX_FRAMES}}
        files.append(write_text(f"{name}.md", _card(name, arch, summary, info_card, seed), out_dir))
        results[name] = summary
    results["seconds"] = round(time.monotonic() - t0, 1)
    results["lcnn_training"] = train_info
    results["files"] = [str(f) for f in files]
    return results
