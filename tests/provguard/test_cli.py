"""Tests for the provguard command line: exit codes, one-line errors, output formats, sign and verify options."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from provguard import __version__
from provguard.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, main
from provguard.demo import flip_media_byte

UNREACHABLE_TSA = "http://127.0.0.1:9/"
REPORT_KEYS = {"schema_version", "path", "media_type", "sha256", "provenance", "errors"}
PROVENANCE_KEYS = {
    "state", "issuer", "common_name", "signed_at", "claim_generator", "digital_source_type", "software_agent",
    "actions", "ingredients", "failure_codes", "informational_codes",
}


class CliResult:
    """Exit code and captured streams of one CLI run."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def err_lines(self) -> list[str]:
        """Non-empty stderr lines."""
        return [line for line in self.err.splitlines() if line.strip()]

    def json_lines(self) -> list[dict]:
        """Parse stdout as JSON lines."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run provguard.cli.main in-process; argparse exits are turned into results too."""

    def run(*argv: str | os.PathLike[str]) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def run_subprocess(*argv: str | os.PathLike[str], env: dict[str, str] | None = None) -> CliResult:
    """Run `python -m provguard` in a child process with the test's environment."""
    full_env = {**os.environ, **(env or {})}
    root = str(Path(__file__).resolve().parents[2])
    full_env["PYTHONPATH"] = root + (os.pathsep + full_env["PYTHONPATH"] if full_env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [sys.executable, "-m", "provguard", *map(str, argv)],
        capture_output=True, text=True, env=full_env, timeout=120, check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def _assert_one_error_line(result: CliResult, *words: str) -> None:
    """Exit 2 with exactly one stderr line starting 'provguard: error' and no traceback."""
    assert result.code == EXIT_USAGE, (result.out, result.err)
    assert len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith("provguard: error"), result.err
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err_lines[0], result.err


def _listing(directory: Path) -> set[str]:
    return set(os.listdir(directory))


@pytest.fixture
def signed(cli, media_file, dev_credentials, tmp_path: Path) -> Callable[..., Path]:  # noqa: ANN001
    """Factory: sign a factory file through the CLI (no watermark) and return the output path."""

    def make(fmt: str = "jpeg", *extra: str, name: str | None = None, seed: int = 0) -> Path:
        source = media_file(fmt, seed=seed)
        out = tmp_path / (name or f"signed-{source.name}")
        result = cli("sign", source, "-o", out, "--no-watermark", *extra)
        assert result.code == EXIT_OK, result.err
        return out

    return make


# --- end to end, in a child process ---------------------------------------------------------------------------


def test_e2e_sign_and_verify_with_the_default_watermark(media_file, dev_credentials, tmp_path: Path, helpers) -> None:  # noqa: ANN001
    source = media_file("jpeg", size=helpers.watermarkable_size)
    out = tmp_path / "out.jpg"
    signing = run_subprocess("sign", source, "-o", out, "--generator", "pixel-diffuser@0.3")
    assert signing.code == EXIT_OK, signing.err
    assert signing.out.startswith(f"signed: {out} (image/jpeg, {out.stat().st_size} bytes")
    assert signing.err_lines == []
    checking = run_subprocess("verify", out)
    assert checking.code == EXIT_OK, checking.err
    for phrase in ("OK:", "Generated with an AI tool", "Issued by", "App or model used", "pixel-diffuser 0.3",
                   "trusted signer", f"provguard {__version__}"):
        assert phrase in checking.out
    assert "Traceback" not in checking.err


def test_e2e_unreachable_tsa(media_file, dev_credentials, tmp_path: Path) -> None:
    source = media_file("jpeg")
    before = _listing(tmp_path)
    result = run_subprocess("sign", source, "-o", tmp_path / "out.jpg", "--no-watermark", "--tsa-url", UNREACHABLE_TSA)
    _assert_one_error_line(result, "timestamp authority")
    assert _listing(tmp_path) == before
    assert result.out == ""


def test_e2e_mixed_batch_exit_codes(media_file, dev_credentials, tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    assert run_subprocess("sign", media_file("jpeg"), "-o", good, "--no-watermark").code == EXIT_OK
    plain = media_file("png")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert run_subprocess("verify", "--no-watermark", good).code == EXIT_OK
    absent = run_subprocess("verify", "--no-watermark", good, plain)
    assert absent.code == EXIT_FINDINGS
    unreadable = run_subprocess("verify", "--no-watermark", "--format", "jsonl", good, empty)
    assert unreadable.code == EXIT_USAGE
    rows = unreadable.json_lines()
    assert [Path(r["path"]).name for r in rows] == ["good.jpg", "empty.jpg"]
    assert rows[0]["provenance"]["state"] == "trusted" and rows[1]["errors"]
    assert "Traceback" not in unreadable.err


def test_e2e_undecodable_file_name_does_not_abort_the_batch(media, tmp_path: Path) -> None:  # noqa: ANN001
    folder = tmp_path / "batch"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"bad-\xff-name.jpg"), "wb") as fh:  # not valid UTF-8
        fh.write(media("jpeg"))
    (folder / "z.png").write_bytes(media("png"))
    result = run_subprocess("verify", "--no-watermark", "--format", "jsonl", "-r", folder,
                            env={"PYTHONIOENCODING": "utf-8:strict"})  # what a en_US.UTF-8 terminal gets
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    assert result.code == EXIT_FINDINGS
    assert len(result.out.strip().splitlines()) == 2


@pytest.mark.parametrize(
    "argv",
    [("sign", "missing.jpg", "-o", "out.jpg"), ("verify",), ("sign", "x.jpg"), ("bogus-command",)],
    ids=["missing-input", "no-paths", "no-output", "unknown-command"],
)
def test_e2e_errors_are_one_line(argv: tuple[str, ...], dev_credentials, tmp_path: Path) -> None:  # noqa: ANN001
    result = run_subprocess(*[str(tmp_path / a) if a.endswith(".jpg") else a for a in argv])
    _assert_one_error_line(result)


def _tiff_with_entry_patched(data: bytes, tag: int, field: str, value: int) -> bytes:
    """A TIFF whose first-directory entry for `tag` has its `count` or (SHORT) `value` field replaced."""
    order = "<" if data[:2] == b"II" else ">"
    out = bytearray(data)
    ifd = struct.unpack(order + "I", out[4:8])[0]
    for i in range(struct.unpack(order + "H", out[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack(order + "H", out[entry : entry + 2])[0] == tag:
            at, fmt = (entry + 4, "I") if field == "count" else (entry + 8, "H")
            out[at : at + struct.calcsize(fmt)] = struct.pack(order + fmt, value)
            return bytes(out)
    raise AssertionError(f"no tag {tag}")


def test_e2e_an_image_the_decoder_refuses_is_one_plain_line(media, dev_credentials, tmp_path: Path) -> None:  # noqa: ANN001
    """Pillow's own log record stays off stderr, and the message names no in-memory buffer object."""
    hostile = tmp_path / "hostile.tif"
    hostile.write_bytes(_tiff_with_entry_patched(media("tiff"), 277, "value", 61187))
    result = run_subprocess("sign", hostile, "-o", tmp_path / "out.tif")
    _assert_one_error_line(result, "image/tiff")
    assert "BytesIO" not in result.err and not (tmp_path / "out.tif").exists()


def test_e2e_library_warnings_stay_off_stderr(media, dev_credentials, tmp_path: Path) -> None:  # noqa: ANN001
    """A readable file that makes Pillow warn gives the normal answer and a clean stderr; PROVGUARD_DEBUG shows it."""
    odd = tmp_path / "odd.tif"
    odd.write_bytes(_tiff_with_entry_patched(media("tiff", size=(300, 256)), 284, "count", 10**6))
    result = run_subprocess("watermark", "detect", odd)
    assert result.code == EXIT_FINDINGS and result.out.startswith("NOT MARKED") and result.err == ""
    debug = run_subprocess("watermark", "detect", odd, env={"PROVGUARD_DEBUG": "1"})
    assert "Tag data larger than file" in debug.err


def test_e2e_version() -> None:
    result = run_subprocess("--version")
    assert result.code == EXIT_OK and result.out.strip() == f"provguard {__version__}"


# --- sign ----------------------------------------------------------------------------------------------------------


def test_sign_reports_the_written_size(cli, media_file, dev_credentials, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "out.png"
    result = cli("sign", media_file("png"), "-o", out, "--no-watermark")
    assert result.code == EXIT_OK
    assert result.out.strip() == f"signed: {out} (image/png, {out.stat().st_size} bytes)"


def test_sign_refuses_the_input_as_output(cli, media_file, dev_credentials) -> None:  # noqa: ANN001
    source = media_file("jpeg")
    data = source.read_bytes()
    _assert_one_error_line(cli("sign", source, "-o", source, "--no-watermark"), "input")
    _assert_one_error_line(cli("sign", source, "-o", source, "--no-watermark", "--force"), "input")
    assert source.read_bytes() == data


def test_sign_needs_force_to_replace(cli, media_file, dev_credentials, tmp_path: Path) -> None:  # noqa: ANN001
    source, out = media_file("wav"), tmp_path / "out.wav"
    out.write_bytes(b"keep me")
    _assert_one_error_line(cli("sign", source, "-o", out, "--no-watermark"), "--force")
    assert out.read_bytes() == b"keep me"
    assert cli("sign", source, "-o", out, "--no-watermark", "--force").code == EXIT_OK
    assert cli("verify", "--no-watermark", out).code == EXIT_OK


def test_sign_failure_leaves_no_temp_files(cli, media_file, dev_credentials, tmp_path: Path) -> None:  # noqa: ANN001
    source = media_file("jpeg")
    before = _listing(tmp_path)
    result = cli("sign", source, "-o", tmp_path / "o.jpg", "--no-watermark", "--tsa-url", UNREACHABLE_TSA)
    _assert_one_error_line(result, "timestamp authority")
    assert _listing(tmp_path) == before


def test_sign_generator_and_title(cli, signed) -> None:  # noqa: ANN001
    out = signed("mp3", "--generator", "Voice Clone@4.2", "--title", "My clip")
    (row,) = cli("verify", "--no-watermark", "--format", "jsonl", out).json_lines()
    prov = row["provenance"]
    assert prov["software_agent"] == "Voice Clone 4.2"
    assert prov["title"] == "My clip"
    assert prov["digital_source_type"] == "trainedAlgorithmicMedia"
    assert prov["claim_generator"] == f"provguard {__version__}"


def test_sign_source_type_digital_capture(cli, signed) -> None:  # noqa: ANN001
    out = signed("jpeg", "--source-type", "digitalCapture")
    result = cli("verify", "--no-watermark", out)
    assert result.code == EXIT_OK
    assert "Source: digitalCapture" in result.out
    assert "Generated with an AI tool" not in result.out


def test_sign_unknown_source_type(cli, media_file, dev_credentials, tmp_path: Path) -> None:  # noqa: ANN001
    result = cli("sign", media_file("jpeg"), "-o", tmp_path / "o.jpg", "--no-watermark", "--source-type", "magic")
    _assert_one_error_line(result, "digital source type")


def test_sign_refuses_a_certificate_breaking_the_profile(cli, media_file, bad_profile_ca, tmp_path: Path) -> None:  # noqa: ANN001
    result = cli("sign", media_file("jpeg"), "-o", tmp_path / "o.jpg", "--no-watermark",
                 "--cert", bad_profile_ca.chain_path, "--key", bad_profile_ca.key_path)
    _assert_one_error_line(result, "key-usage-no-cert-sign")
    assert not (tmp_path / "o.jpg").exists()


def test_sign_cert_needs_key(cli, media_file, foreign_ca, tmp_path: Path) -> None:  # noqa: ANN001
    result = cli("sign", media_file("jpeg"), "-o", tmp_path / "o.jpg", "--cert", foreign_ca.chain_path)
    _assert_one_error_line(result, "--key")


def test_sign_with_an_unrelated_ca_is_valid_not_trusted(cli, media_file, dev_credentials, foreign_ca,  # noqa: ANN001
                                                        tmp_path: Path) -> None:
    out = tmp_path / "foreign.jpg"
    result = cli("sign", media_file("jpeg"), "-o", out, "--no-watermark",
                 "--cert", foreign_ca.chain_path, "--key", foreign_ca.key_path)
    assert result.code == EXIT_OK, result.err
    checked = cli("verify", "--no-watermark", out)  # the config trusts only the dev root
    assert checked.code == EXIT_OK
    assert "not on your trust list" in checked.out
    (row,) = cli("verify", "--no-watermark", "--format", "jsonl", out).json_lines()
    assert row["provenance"]["state"] == "valid"
    assert row["provenance"]["issuer"] == "Unrelated Test CA"


def test_sign_without_credentials_says_how_to_get_them(cli, media_file, tmp_path: Path) -> None:  # noqa: ANN001
    result = cli("sign", media_file("jpeg"), "-o", tmp_path / "o.jpg", "--no-watermark")
    _assert_one_error_line(result, "keys init")


def test_sign_respects_the_size_limit(cli, media_file, dev_credentials, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("PROVGUARD_MAX_BYTES", "512")
    result = cli("sign", media_file("jpeg"), "-o", tmp_path / "o.jpg", "--no-watermark")
    _assert_one_error_line(result, "limit")


# --- parents ---------------------------------------------------------------------------------------------------


def test_parent_ingredient_is_walked_in_the_report(cli, signed, media_file, tmp_path: Path) -> None:  # noqa: ANN001
    parent = signed("jpeg", "--generator", "base@1", name="parent.jpg")
    child = tmp_path / "child.png"
    assert cli("sign", media_file("png", seed=4), "-o", child, "--no-watermark", "--parent", parent).code == EXIT_OK
    result = cli("verify", "--no-watermark", "--format", "json", child)
    assert result.code == EXIT_OK
    (row,) = json.loads(result.out)
    (ingredient,) = row["provenance"]["ingredients"]
    assert ingredient["title"] == "parent.jpg" and ingredient["relationship"] == "parentOf"
    assert ingredient["state"] == "trusted"
    assert "Ingredients:" in cli("verify", "--no-watermark", child).out


def test_tampered_parent_shows_inside_ingredients(cli, signed, media_file, tmp_path: Path) -> None:  # noqa: ANN001
    parent = signed("jpeg", name="parent.jpg")
    parent.write_bytes(flip_media_byte(parent.read_bytes()))
    child = tmp_path / "child.png"
    assert cli("sign", media_file("png", seed=4), "-o", child, "--no-watermark", "--parent", parent).code == EXIT_OK
    (row,) = cli("verify", "--no-watermark", "--format", "jsonl", child).json_lines()
    assert row["provenance"]["state"] == "trusted"
    assert row["provenance"]["failure_codes"] == []
    (ingredient,) = row["provenance"]["ingredients"]
    assert ingredient["state"] == "invalid"
    assert "assertion.dataHash.mismatch" in ingredient["failure_codes"]
    text = cli("verify", "--no-watermark", child).out
    assert "parent.jpg (parentOf): invalid" in text
    assert "changed after it was signed" in text


# --- verify ----------------------------------------------------------------------------------------------------


def test_verify_tampered_file_in_plain_words(cli, signed, tmp_path: Path) -> None:  # noqa: ANN001
    good = signed("wav")
    tampered = tmp_path / "tampered.wav"
    tampered.write_bytes(flip_media_byte(good.read_bytes()))
    result = cli("verify", "--no-watermark", tampered)
    assert result.code == EXIT_FINDINGS
    assert result.out.startswith(f"FAIL: {tampered}")
    assert "INVALID" in result.out
    assert "changed after it was signed" in result.out
    assert "assertion.dataHash.mismatch" in result.out


def test_verify_mp4_tampered_in_mdat(cli, signed, tmp_path: Path, helpers) -> None:  # noqa: ANN001
    good = signed("mp4")
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(helpers.flip_mdat_byte(good.read_bytes()))
    (row,) = cli("verify", "--no-watermark", "--format", "jsonl", tampered).json_lines()
    assert row["provenance"]["state"] == "invalid"
    assert "assertion.bmffHash.mismatch" in row["provenance"]["failure_codes"]


def test_verify_unsigned_is_absent(cli, media_file) -> None:  # noqa: ANN001
    result = cli("verify", "--no-watermark", media_file("flac"))
    assert result.code == EXIT_FINDINGS
    assert "none found" in result.out


def test_verify_exit_codes(cli, signed, media_file, tmp_path: Path) -> None:  # noqa: ANN001
    good, plain = signed("jpeg"), media_file("png")
    missing = tmp_path / "missing.wav"
    assert cli("verify", "--no-watermark", good).code == EXIT_OK
    assert cli("verify", "--no-watermark", good, plain).code == EXIT_FINDINGS
    assert cli("verify", "--no-watermark", good, missing).code == EXIT_USAGE
    assert cli("verify", "--no-watermark", plain, missing, good).code == EXIT_USAGE


def test_verify_unreadable_files_are_reported_and_the_rest_still_verified(cli, signed, media, tmp_path: Path) -> None:  # noqa: ANN001
    good = signed("jpeg")
    bad = tmp_path / "bad"
    bad.mkdir()
    files = {
        "empty.jpg": b"",
        "text.jpg": b"not an image at all\n",
        "cut.jpg": media("jpeg")[:-300],
        "cut.png": media("png")[:-100],
        "cut.wav": media("wav")[:-400],
        "cut.mp4": media("mp4")[:-400],
    }
    for name, data in files.items():
        (bad / name).write_bytes(data)
    subdir = tmp_path / "a-directory"
    subdir.mkdir()
    paths = [bad / n for n in files] + [subdir, tmp_path / "missing.jpg", good]
    result = cli("verify", "--no-watermark", *paths)
    assert result.code == EXIT_USAGE
    blocks = result.out.split("\n")
    assert sum(line.startswith("ERROR: ") for line in blocks) == len(paths) - 1
    assert sum("could not be read" in line for line in blocks) == len(paths) - 1
    assert f"OK: {good}" in result.out
    assert "-r" in result.out  # the directory's message says how to walk it
    assert "Traceback" not in result.err
    assert all(line.startswith("summary:") for line in result.err_lines)


@pytest.mark.parametrize(
    ("failure", "line"),
    [(ZeroDivisionError("a surprise"), "internal error: ZeroDivisionError: a surprise"),
     (MemoryError(), "input too large or too deeply nested (MemoryError)")],
)
def test_an_unexpected_failure_on_one_file_costs_only_that_file(  # noqa: ANN001
    cli, signed, monkeypatch, failure: Exception, line: str
) -> None:
    """A bug (or exhausted memory) met on one file of a batch is that file's one-line error; the rest is verified."""
    import importlib

    verify_module = importlib.import_module("provguard.verify")  # the package's `verify` is the function
    good, odd = signed("jpeg"), signed("png")
    real = verify_module.verify_path

    def verify_path(path: Path, options: object) -> object:
        if Path(path) == odd:
            raise failure
        return real(path, options)

    monkeypatch.setattr(verify_module, "verify_path", verify_path)
    result = cli("verify", "--no-watermark", odd, good)
    assert result.code == EXIT_USAGE
    assert line in result.out and f"OK: {good}" in result.out
    assert "Traceback" not in result.err


def test_verify_content_sniffing_in_the_cli(cli, signed, tmp_path: Path) -> None:  # noqa: ANN001
    jpeg_as_png = tmp_path / "really-a-jpeg.png"
    jpeg_as_png.write_bytes(signed("jpeg").read_bytes())
    wav_as_jpg = tmp_path / "really-a-wav.jpg"
    wav_as_jpg.write_bytes(signed("wav").read_bytes())
    rows = cli("verify", "--no-watermark", "--format", "jsonl", jpeg_as_png, wav_as_jpg).json_lines()
    assert [(r["media_type"], r["provenance"]["state"]) for r in rows] == [("image/jpeg", "trusted"),
                                                                          ("audio/wav", "trusted")]


def test_verify_recursive(cli, signed, media_file, tmp_path: Path) -> None:  # noqa: ANN001
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    signed("jpeg", name="tree/sub/b.jpg")
    signed("wav", name="tree/a.wav")
    without = cli("verify", "--no-watermark", tree)
    assert without.code == EXIT_USAGE and "could not be read" in without.out
    rows = cli("verify", "--no-watermark", "-r", "--format", "jsonl", tree).json_lines()
    assert [Path(r["path"]).relative_to(tree).as_posix() for r in rows] == ["a.wav", "sub/b.jpg"]
    assert cli("verify", "--no-watermark", "--recursive", tree).code == EXIT_OK


def test_verify_json_and_jsonl_schema(cli, signed, media_file, tmp_path: Path) -> None:  # noqa: ANN001
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    paths = [signed("jpeg"), media_file("wav"), empty]
    as_json = cli("verify", "--no-watermark", "--format", "json", *paths)
    rows = json.loads(as_json.out)
    assert isinstance(rows, list) and len(rows) == 3
    as_jsonl = cli("verify", "--no-watermark", "--format", "jsonl", *paths)
    assert len(as_jsonl.out.strip().splitlines()) == 3
    assert as_jsonl.json_lines() == rows
    assert as_json.code == as_jsonl.code == EXIT_USAGE
    for row, path in zip(rows, paths, strict=True):
        assert REPORT_KEYS <= set(row)
        assert PROVENANCE_KEYS <= set(row["provenance"])
        assert row["schema_version"] == 1
        assert row["path"] == str(path)
    assert [r["provenance"]["state"] for r in rows] == ["trusted", "absent", "absent"]
    assert rows[0]["media_type"] == "image/jpeg" and len(rows[0]["sha256"]) == 64
    assert rows[2]["errors"] and rows[2]["media_type"] is None


def test_verify_json_with_one_file_and_with_none(cli, signed, tmp_path: Path) -> None:  # noqa: ANN001
    (row,) = json.loads(cli("verify", "--no-watermark", "--format", "json", signed("png")).out)
    assert row["provenance"]["state"] == "trusted"
    (tmp_path / "empty-dir").mkdir()
    nothing = cli("verify", "--no-watermark", "-r", "--format", "json", tmp_path / "empty-dir")
    assert json.loads(nothing.out) == []
    assert nothing.code == EXIT_USAGE


def test_verify_trust_anchor_precedence(cli, signed, dev_credentials, foreign_ca, monkeypatch) -> None:  # noqa: ANN001
    out = signed("jpeg")

    def state(*extra: object) -> str:
        (row,) = cli("verify", "--no-watermark", "--format", "jsonl", *extra, out).json_lines()
        return row["provenance"]["state"]

    assert state() == "trusted"  # from the config
    monkeypatch.setenv("PROVGUARD_TRUST_ANCHORS", str(foreign_ca.root_path))
    assert state() == "valid"  # the environment beats the config
    assert state("--trust-anchors", dev_credentials.root_cert) == "trusted"  # the option beats the environment
    monkeypatch.setenv("PROVGUARD_TRUST_ANCHORS", str(dev_credentials.root_cert))
    assert state("--trust-anchors", foreign_ca.root_path) == "valid"


def test_verify_bad_trust_anchors_is_one_line(cli, signed, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    out = signed("jpeg")
    _assert_one_error_line(cli("verify", "--trust-anchors", tmp_path / "nope.pem", out))
    monkeypatch.setenv("PROVGUARD_TRUST_ANCHORS", str(tmp_path / "nope.pem"))
    _assert_one_error_line(cli("verify", out), "PROVGUARD_TRUST_ANCHORS")


def test_verify_huge_file_is_refused_cleanly(cli, signed, monkeypatch) -> None:  # noqa: ANN001
    out = signed("jpeg")
    monkeypatch.setenv("PROVGUARD_MAX_BYTES", "1024")
    result = cli("verify", "--no-watermark", out)
    assert result.code == EXIT_USAGE
    assert "could not be read" in result.out and "limit" in result.out
    assert "Traceback" not in result.err


def test_text_output_for_a_trusted_file(cli, signed) -> None:  # noqa: ANN001
    out = signed("jpeg", "--generator", "imagen-like@7")
    result = cli("verify", "--no-watermark", out)
    lines = result.out.splitlines()
    assert lines[0] == f"OK: {out} (image/jpeg)"
    assert "Content Credentials: valid, signed by a trusted signer" in result.out
    assert "Generated with an AI tool (trainedAlgorithmicMedia)" in result.out
    assert any(line.strip().startswith("Issued by:") for line in lines)
    assert "App or model used: imagen-like 7" in result.out
    assert "What is wrong" not in result.out


# --- keys and help ---------------------------------------------------------------------------------------------


def test_keys_init_via_cli(cli, provguard_home: Path) -> None:  # noqa: ANN001
    result = cli("keys", "init")
    assert result.code == EXIT_OK
    assert str(provguard_home) in result.out
    key = provguard_home / "keys" / "dev-signer.key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    again = cli("keys", "init")
    assert again.code == EXIT_OK and "already present" in again.out


def test_help_mentions_exit_codes(cli) -> None:  # noqa: ANN001
    result = cli("--help")
    assert result.code == EXIT_OK
    assert "Exit codes: 0" in result.out


def test_an_m4a_with_two_tracks_is_not_marked_without_one_but_signs_unmarked(cli, dev_credentials, helpers,  # noqa: ANN001
                                                                             tmp_path: Path) -> None:
    """Marking would re-encode the first track only: refused with a pointer to --no-watermark, which then signs it."""
    import numpy as np

    tone = (0.3 * np.sin(np.arange(4 * 44100) / 7.0)).astype(np.float32)
    source = tmp_path / "two-tracks.m4a"
    source.write_bytes(helpers.m4a(tone, 44100, tracks=2))
    refused = cli("sign", source, "-o", tmp_path / "marked.m4a")
    _assert_one_error_line(refused, "more than one track", "--no-watermark")
    assert not (tmp_path / "marked.m4a").exists()
    assert cli("sign", source, "-o", tmp_path / "signed.m4a", "--no-watermark").code == EXIT_OK
    assert cli("verify", "--no-watermark", tmp_path / "signed.m4a").code == EXIT_OK
