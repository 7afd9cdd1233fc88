"""Train the image detectors: the frequency CNN and both baselines on corpus photos vs reference-generator fakes,
calibrate on the validation split, evaluate on the test split, write weights, sidecars and model cards."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.image.network import DEFAULT_ARCH

Progress = Callable[[str], None] | None
#: CNN optimisation steps (batch 64 patches); the time budget stops training earlier on a slow machine.
DEFAULT_STEPS = 4500
BATCH = 64
#: Augmented training patches the baselines are fitted on.
BASELINE_PATCHES = 12000
#: Seconds of the budget kept for data loading, baselines, calibration and evaluation.
RESERVE_SECONDS = 240.0
DETECTORS = ("image-frequency", "image-dct-logreg", "image-spectrum")


@dataclass
class ImageSet:
    """Decoded images of one split with labels and families."""

    images: list[np.ndarray]
    labels: list[int]
    families: list[str]

    def only(self, families: tuple[str, ...]) -> ImageSet:
        """The real images plus the fakes of the given families."""
        keep = [i for i, f in enumerate(self.families) if f == "real" or f in families]
        return ImageSet([self.images[i] for i in keep], [self.labels[i] for i in keep], [self.families[i] for i in keep])


def load_set(split: str, families: tuple[str, ...], *, corpus_dir: Path | None = None, data_dir: Path | None = None,
             progress: Progress = None) -> ImageSet:
    """Build (or read from the cache) and decode a split."""
    from detectors.image.data import build_split, load_pixels

    items = build_split(split, corpus_dir=corpus_dir, data_dir=data_dir, families=families, progress=progress)
    return ImageSet([load_pixels(i) for i in items], [i.label for i in items], [i.family for i in items])


def calibration_set(val: ImageSet, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Validation images clean plus one randomly degraded copy each (training distribution), and labels."""
    from detectors.image.augment import augment_image

    rng = np.random.default_rng([seed, 7])
    images = val.images + [augment_image(px, rng) for px in val.images]
    return images, np.array(val.labels + val.labels)


def train_models(train: ImageSet, val: ImageSet, *, seed: int, steps: int, max_seconds: float | None,
                 arch: str = DEFAULT_ARCH, progress: Progress = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit the CNN and both baselines on `train`, calibrate each on `val`; return detectors and training info."""
    from detectors.calibration import Calibrator
    from detectors.image.baselines import DctLogRegDetector, SpectrumDetector
    from detectors.image.cnn import FrequencyCNNDetector
    from detectors.image.evaluate import raw_scores
    from detectors.image.fit import fit_cnn, fit_logreg, patch_features
    from detectors.image.sampling import PatchSampler

    info: dict[str, Any] = {}
    dets: dict[str, Any] = {}
    start = time.perf_counter()
    base_sampler = PatchSampler(train.images, train.labels, train.families, seed=seed + 1)
    for cls in (DctLogRegDetector, SpectrumDetector):
        t0 = time.perf_counter()
        feats, y = patch_features(base_sampler, BASELINE_PATCHES, cls.featurize)
        dets[cls.name] = cls.from_parts(fit_logreg(feats, y, seed=seed), None)
        info[cls.name] = {"seconds": round(time.perf_counter() - t0, 1), "patches": BASELINE_PATCHES}
        if progress:
            progress(f"{cls.name}: fitted on {BASELINE_PATCHES} patches in {info[cls.name]['seconds']} s")
    budget = None if max_seconds is None else max(30.0, max_seconds - (time.perf_counter() - start))
    sampler = PatchSampler(train.images, train.labels, train.families, seed=seed)
    fit = fit_cnn(sampler, arch=arch, steps=steps, seed=seed, batch=BATCH, max_seconds=budget, progress=progress)
    dets["image-frequency"] = FrequencyCNNDetector.from_parts(fit.model, None)
    info["image-frequency"] = {"seconds": round(fit.seconds, 1), "steps": fit.steps, "planned_steps": steps,
                               "stopped_early": fit.stopped_early, "final_loss": round(fit.final_loss, 5),
                               "arch": arch, "batch": BATCH, "timm": _timm_version(),
                               "params": int(sum(p.numel() for p in fit.model.backbone.parameters()))}
    cal_images, cal_labels = calibration_set(val, seed)
    for det in dets.values():
        det.calibrator = Calibrator.fit(raw_scores(det, cal_images), cal_labels, method="platt")
    info["calibration"] = {"method": "platt", "images": len(cal_images)}
    return {n: dets[n] for n in DETECTORS}, info


def summarise(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Drop per-image probabilities, round the metrics."""
    return {cond: {det: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()
                         if k not in ("probs", "raw")}
                   for det, m in row.items()} for cond, row in results.items()}


def test_metrics(dets: dict[str, Any], test: ImageSet) -> dict[str, Any]:
    """Test-split metrics: reference fakes (recon + sample) under every condition, and per family clean."""
    from detectors.image.evaluate import evaluate

    ref = test.only(("recon", "sample"))
    out: dict[str, Any] = {"reference": summarise(evaluate(dets, ref.images, ref.labels))}
    for fam in sorted(set(test.families) - {"real"}):
        sub = test.only((fam,))
        out[f"family:{fam}"] = summarise(evaluate(dets, sub.images, sub.labels, ("clean",)))["clean"]
    return out


def _save(dets: dict[str, Any], info: dict[str, Any], metrics: dict[str, Any], out_dir: Path | None,
          command: str) -> list[Path]:
    """Write the CNN weights + sidecar, the baseline JSONs, and a model card for each."""
    from detectors.image.cards import arch_note, model_card
    from detectors.image.features import GRID, PATCH
    from detectors.weights import save_json, save_torch_state, write_text

    cnn = dets["image-frequency"]
    paths = [save_torch_state(cnn.model.state_dict(), "image-frequency.pt", out_dir)]
    meta = {"arch": info["image-frequency"]["arch"], "patch": PATCH, "grid": GRID, "version": cnn.version,
            "calibration": cnn.calibrator.to_dict(), "training": info, "test_metrics": metrics}
    paths.append(save_json(meta, "image-frequency.json", out_dir))
    for name in ("image-dct-logreg", "image-spectrum"):
        paths.append(save_json(dets[name].to_json(), f"{name}.json", out_dir))
    note = arch_note(out_dir)
    for name in DETECTORS:
        card = model_card(name, info, metrics, command, note if name == "image-frequency" else "")
        paths.append(write_text(f"{name}.md", card, out_dir))
    return paths


def train_image_detectors(*, seed: int = 0, minutes: float = 25.0, corpus_dir: Path | None = None,
                          out_dir: Path | None = None, threads: int = 1, progress: Progress = None,
                          steps: int = DEFAULT_STEPS, data_dir: Path | None = None) -> dict[str, Any]:
    """Train, calibrate (val split), evaluate (test split) and save the three image detectors; return a summary."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    start = time.perf_counter()
    say = progress or (lambda _msg: None)
    train = load_set("train", ("recon", "sample"), corpus_dir=corpus_dir, data_dir=data_dir, progress=progress)
    val = load_set("val", ("recon", "sample"), corpus_dir=corpus_dir, data_dir=data_dir, progress=progress)
    test = load_set("test", ("recon", "sample", "video"), corpus_dir=corpus_dir, data_dir=data_dir, progress=progress)
    say(f"data: train {len(train.images)}, val {len(val.images)}, test {len(test.images)} images "
        f"({time.perf_counter() - start:.0f} s)")
    budget = minutes * 60.0 - (time.perf_counter() - start) - RESERVE_SECONDS
    dets, info = train_models(train, val, seed=seed, steps=steps, max_seconds=budget, progress=progress)
    metrics = test_metrics(dets, test)
    info.update(seed=seed, threads=threads, minutes=minutes, total_seconds=round(time.perf_counter() - start, 1),
                date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                data={"train": _counts(train), "val": _counts(val), "test": _counts(test)})
    command = f"provguard train image --seed {seed} --minutes {minutes:g} --threads {threads}"
    paths = _save(dets, info, metrics, out_dir, command)
    say("wrote " + ", ".join(p.name for p in paths))
    ref = metrics["reference"]
    return {
        "test AUC (clean / JPEG q75 / resize 0.5x)": {
            name: " / ".join(f"{ref[c][name]['auc']:.4f}" for c in ref) for name in DETECTORS},
        "CNN": f"{info['image-frequency']['arch']}, {info['image-frequency']['steps']} steps, "
               f"{info['image-frequency']['seconds'] / 60:.1f} min",
        "total minutes": round(info["total_seconds"] / 60, 1),
        "files": [str(p) for p in paths],
    }


def _counts(s: ImageSet) -> dict[str, int]:
    """Images per family."""
    fams, counts = np.unique(s.families, return_counts=True)
    return {str(f): int(c) for f, c in zip(fams, counts)}


def _timm_version() -> str:
    """The timm version the backbone was built with (its model definitions must match the weights)."""
    import timm

    return str(timm.__version__)
