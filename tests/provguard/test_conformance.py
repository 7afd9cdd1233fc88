"""Conformance: every third-party C2PA file verifies as c2pa-rs 0.91.3 (the oracle) reports it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from provguard.report import Ingredient
from provguard.verify import verify_bytes

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "c2pa-conformance"
ORACLE = CONFORMANCE / "_oracle_results.jsonl"

pytestmark = pytest.mark.skipif(
    not ORACLE.exists(),
    reason=f"C2PA conformance files not found at {CONFORMANCE} (they sit in ../shared beside a developer checkout)",
)


def _oracle() -> list[dict]:
    """Load the oracle rows, or none when the folder is absent."""
    if not ORACLE.exists():
        return []
    return [json.loads(line) for line in ORACLE.read_text().splitlines() if line.strip()]


def _test_anchors() -> bytes:
    """Return the C2PA test roots from the oracle's trust settings."""
    settings = json.loads((CONFORMANCE / "_c2pa_test_trust_settings.json").read_text())
    return settings["trust"]["trust_anchors"].encode("ascii")


def _ingredient_failures(items: list[Ingredient]) -> set[str]:
    """Collect failure codes of all ingredients, recursively."""
    codes: set[str] = set()
    for item in items:
        codes.update(item.failure_codes)
        codes.update(_ingredient_failures(item.ingredients))
    return codes


ROWS = _oracle()
CASES = [(row, mode) for row in ROWS for mode in ("default_offline", "c2pa_test_trust")]


@pytest.mark.parametrize(("row", "mode"), CASES, ids=[f"{r['file']}-{m}" for r, m in CASES])
def test_file_matches_oracle(row: dict, mode: str) -> None:
    """State, failure codes and ingredient failure codes agree with the oracle; errors map to clean outcomes."""
    expected = row[mode]
    anchors = _test_anchors() if mode == "c2pa_test_trust" else None
    report = verify_bytes((CONFORMANCE / row["file"]).read_bytes(), row["file"], anchors)
    error = expected.get("error")
    if error is None:
        assert report.errors == []
        assert report.provenance.state == expected["state"].lower()
        assert set(report.provenance.failure_codes) == set(expected["failure"])
        assert _ingredient_failures(report.provenance.ingredients) == set(expected["ingredient_failures"])
    elif "ManifestNotFound" in error:
        assert report.errors == [] and report.provenance.state == "absent"
    elif "Remote:" in error:
        assert report.provenance.state == "absent"
        assert report.provenance.remote_manifest_url and report.provenance.remote_manifest_url in error
    elif "NotSupported" in error or "could not be parsed" in error:
        assert len(report.errors) == 1 and "\n" not in report.errors[0]
    else:
        assert report.errors == []
        assert report.provenance.state == "invalid"
        assert report.provenance.failure_codes == ["provguard.manifest.malformed"]


def test_tampered_ingredient_shows_under_a_valid_top_level() -> None:
    """A tampered ingredient is reported inside ingredients even when the active manifest holds."""
    report = verify_bytes((CONFORMANCE / "py_CIE-sig-CA.jpg").read_bytes(), "py_CIE-sig-CA.jpg", _test_anchors())
    assert report.provenance.failure_codes == []
    ingredient = report.provenance.ingredients[0]
    assert ingredient.state == "invalid" and "claimSignature.mismatch" in ingredient.failure_codes


def test_whole_folder_through_cli_gives_clean_errors() -> None:
    """Verifying every file at once finishes, prints parseable JSON, no traceback, and exits 2 for the unreadable."""
    proc = subprocess.run(
        [sys.executable, "-m", "provguard", "verify", "-r", "--format", "json", str(CONFORMANCE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr
    reports = json.loads(proc.stdout)
    assert len(reports) == len(list(p for p in CONFORMANCE.iterdir() if not p.name.startswith(".")))
    assert proc.returncode == 2
    assert all(len(r["errors"]) <= 1 for r in reports)
