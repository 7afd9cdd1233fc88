"""Model cards (markdown) for the shipped image detectors: data, split, test metrics, date, reproduce command."""

from __future__ import annotations

from typing import Any

from detectors.image.evaluate import CONDITIONS

DESCRIPTIONS = {
    "image-frequency": "Frequency-artifact CNN: per-channel log-magnitude 2-D DCT of 64-px patches, standardised per "
                       "coefficient, into a timm `{arch}` backbone (in_chans=3, num_classes=1, trained from scratch). "
                       "An image is scored on a grid of at most 6x6 cells (one patch centred in each); the score is the "
                       "Platt-calibrated mean patch logit, and the patch scores form the heat map.",
    "image-dct-logreg": "Baseline after Frank et al. 2020: log-|DCT| of the luma of each 64-px patch (4096 features), "
                        "standardised, L2 logistic regression (scikit-learn); mean patch logit, Platt-calibrated.",
    "image-spectrum": "Baseline after Durall et al. 2020: azimuthally averaged log power spectrum of each 64-px luma "
                      "patch (46 radial bins), standardised, logistic regression (scikit-learn); mean patch logit, "
                      "Platt-calibrated.",
}



def arch_note(directory: Any = None) -> str:
    """The backbone comparison (written by detectors.image.arch_search) as markdown, or "" when absent."""
    import json
    from pathlib import Path

    from detectors.image.arch_search import ARCH_FILE
    from detectors.weights import weights_path

    path = Path(directory) / ARCH_FILE if directory is not None else weights_path(ARCH_FILE)
    if not path.exists():
        path = weights_path(ARCH_FILE)
    if not path.exists():
        return ""
    data = json.loads(path.read_text())
    head = ("| timm backbone | parameters | steps | train s (1 thread) | val AUC clean | val AUC JPEG q75 | "
            "val AUC resize 0.5x | patches/s (1 thread, batch 64) |")
    rows = [head, "|---|---|---|---|---|---|---|---|"]
    for c in data["candidates"]:
        auc = c["val_auc"]
        rows.append(f"| `{c['arch']}` | {c['params']:,} | {c['steps']} | {c['train_seconds']} | {auc['clean']:.4f} | "
                    f"{auc['jpeg75']:.4f} | {auc['resize0.5']:.4f} | {c['patches_per_s_1thread']} |")
    return ("Candidates trained for the same number of steps on the train split, calibrated and scored on the "
            f"validation split (`{data['command']}`; another job shared the CPU, so times are indicative):\n\n"
            + "\n".join(rows) + "\n\n" + data.get("choice", ""))


def _metric_rows(name: str, metrics: dict[str, Any]) -> list[str]:
    """Markdown rows: condition/family -> AUC, AP, accuracy, counts."""
    rows = ["| test set | condition | AUC | AP | accuracy | real | fake |", "|---|---|---|---|---|---|---|"]
    for cond in CONDITIONS:
        m = metrics["reference"][cond][name]
        rows.append(f"| reference fakes (recon + sample) | {cond} | {m['auc']:.4f} | {m['ap']:.4f} | "
                    f"{m['accuracy']:.3f} | {m['n_real']} | {m['n_fake']} |")
    for key, row in metrics.items():
        if key.startswith("family:"):
            m = row[name]
            rows.append(f"| {key[7:]} only | clean | {m['auc']:.4f} | {m['ap']:.4f} | {m['accuracy']:.3f} | "
                        f"{m['n_real']} | {m['n_fake']} |")
    return rows


def model_card(name: str, info: dict[str, Any], metrics: dict[str, Any], command: str, arch_note: str = "") -> str:
    """The markdown model card for one detector."""
    own = info.get(name, {})
    data = info.get("data", {})
    lines = [
        f"# {name}",
        "",
        DESCRIPTIONS[name].format(arch=info.get("image-frequency", {}).get("arch", "?")),
        "",
        "## Training data",
        "",
        ("- Real: square crops (at most 512 px, native resolution; about one per 0.26 MP, at most 4 per photo, 8 in test) of the "
         "provguard corpus photos (`kind=photo`), split by source file: train for fitting, val for calibration, "
         "test for the metrics below (never seen in training or calibration)."),
        ("- Fakes: `recon` = each real crop passed through the reference latent autoencoder "
         "(`provguard.generate.image.reconstruct_image`, aligned fakes); `sample` = unconditional DiT samples "
         "(256 px, 30 DDIM steps, seeds disjoint per split). `video` frames "
         "(`provguard.generate.video.make_video_frames`) appear only in the test split: a family never trained on."),
        ("- Augmentation, the same for both classes: resize 0.5-1.5x (p 0.6, log-uniform factor, "
         "bilinear/bicubic/Lanczos), Gaussian blur sigma 0.1-1.2 (p 0.25), JPEG q60-100 (p 0.6); patches at random "
         "pixel phase."),
        f"- Images per split and family: train {data.get('train')}, val {data.get('val')}, test {data.get('test')}.",
        (f"- Calibration: {info.get('calibration', {}).get('method', 'platt')} on the validation split, each image "
         "clean and once randomly degraded as in training."),
        "",
        "## Training run",
        "",
        (f"- date: {info.get('date')}; seed {info.get('seed')}; {info.get('threads')} torch thread(s); "
         f"whole run {info.get('total_seconds', 0) / 60:.1f} min (budget {info.get('minutes')} min)"),
        "- this model: " + ", ".join(f"{k} {v}" for k, v in sorted(own.items())),
        f"- reproduce: `{command}`",
        "",
        "## Test-split metrics (AUC and AP of the raw pooled logit; accuracy at the calibrated 0.5 threshold)",
        "",
        *_metric_rows(name, metrics),
        "",
    ]
    if arch_note:
        lines += ["## Backbone choice", "", arch_note, ""]
    limits = ("Trained only on this project's reference generator; scores on other generators are not validated "
              "(see the leave-one-generator-out rows in BENCHMARKS.md). The corpus is small (tens of photos), so the "
              "test numbers carry wide error bars.")
    lines += ["## Limits", "", limits, ""]
    return "\n".join(lines)
