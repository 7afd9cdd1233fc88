"""The real-media corpus: splits by source file, manifest round trip, licenses, idempotent local builds."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from provguard.errors import InputError
from provguard.generate import corpus, corpus_sources
from provguard.generate.corpus import SPLITS, assign_splits, build_corpus, default_corpus_dir, load_corpus, split_for
from provguard.generate.corpus_sources import SOURCES, Source, parse_dep5

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake
Copyright: 2020, Upstream Person
License: GPL-2+

Files: *
Copyright: 2020, Upstream Person
License: GPL-2+

Files: sounds/*.wav
Copyright: 2021, A Speaker
License: CC-BY-SA-3.0

Files: sounds/b.wav
Copyright: 2022, Another Speaker
License: CC0

Files: data/*
Copyright: 2019, Someone Else
License: MIT

License: GPL-2+
 The text of the license.
"""


def _photo(fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, 96)[None, :, None] * np.ones((64, 1, 3))
    img = np.clip(ramp + rng.normal(0, 12, ramp.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt)
    return buf.getvalue()


def _tone(seconds: float, rate: int, seed: int, channels: int = 1, gain: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = gain * np.sin(2 * np.pi * (180 + 40 * seed) * t) + 0.02 * np.random.default_rng(seed).normal(size=t.size)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


def _wav(seconds: float, rate: int, seed: int, channels: int = 1, fmt: str = "WAV", gain: float = 0.3) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, _tone(seconds, rate, seed, channels, gain), rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def _g722(seconds: float, seed: int) -> bytes:
    pcm = (_tone(seconds, 16000, seed) * 20000).astype(np.int16).reshape(1, -1)
    buf = io.BytesIO()
    with av.open(buf, "w", format="g722") as out:
        stream = out.add_stream("g722", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buf.getvalue()


@pytest.fixture()
def archives(tmp_path: Path) -> dict[str, Path]:
    """A wheel-like zip of photos and speech, and an sdist-like tar.gz of headerless PCM and G.722."""
    wheel = tmp_path / "in" / "fakepics-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("fake/data/one.jpg", _photo("JPEG", 1))
        zf.writestr("fake/data/two.png", _photo("PNG", 2))
        zf.writestr("fake/data/three_left.jpg", _photo("JPEG", 3))
        zf.writestr("fake/data/three_right.jpg", _photo("JPEG", 4))
        zf.writestr("fake/data/broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
        zf.writestr("fake/speech/a.wav", _wav(1.0, 22050, 1, channels=2))
        zf.writestr("fake/speech/b.flac", _wav(0.5, 44100, 2, fmt="FLAC"))
        zf.writestr("fake/speech/c.wav", _wav(0.7, 16000, 3, gain=0.9))
        zf.writestr("fake/README.txt", b"not selected")
    sdist = tmp_path / "in" / "fakeaudio-2.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name, data in (("fakeaudio-2.0/test/p.raw", (_tone(0.6, 8000, 5) * 20000).astype("<i2").tobytes()),
                           ("fakeaudio-2.0/test/q.g722", _g722(0.8, 6))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return {"wheel": wheel, "sdist": sdist}


def _registry(archives: dict[str, Path]) -> dict[str, Source]:
    return {
        "pics": Source("pics", "file", str(archives["wheel"]), "photo", ("fake/data/*",), version="1.0",
                       root="fake/data/", license="CC0-1.0",
                       group=lambda m: "pics:" + m.replace("_left", "").replace("_right", "")),
        "talk": Source("talk", "file", str(archives["wheel"]), "speech", ("fake/speech/*",), version="1.0",
                       root="fake/speech/", per_file=(("*/a.wav", "MIT", "Alice"),), license="CC-BY-4.0",
                       speaker=lambda m: "spk-" + Path(m).stem),
        "raw": Source("raw", "file", str(archives["sdist"]), "speech", ("test/*",), version="2.0", root="test/",
                      license="public-domain", raw_rate=8000),
    }


def test_split_for_is_a_fixed_function_of_the_source_id() -> None:
    ids = [f"src:file{i}.wav" for i in range(3000)]
    first = [split_for(i) for i in ids]
    assert first == [split_for(i) for i in ids]
    counts = Counter(first)
    assert set(counts) == set(SPLITS)
    assert abs(counts["train"] / 3000 - 0.70) < 0.04
    assert abs(counts["val"] / 3000 - 0.15) < 0.03
    assert abs(counts["test"] / 3000 - 0.15) < 0.03


@pytest.mark.parametrize("n", range(1, 7))
def test_small_sources_still_get_a_test_item(n: int) -> None:
    for trial in range(30):
        groups = [f"s{trial}:{i}" for i in range(n)]
        out = assign_splits(groups)
        assert out == assign_splits(list(reversed(groups)))  # order does not matter
        present = set(out.values())
        assert "train" in present
        assert ("test" in present) == (n >= 2)
        assert ("val" in present) == (n >= 3) or n >= 7


def test_build_normalises_records_and_splits_by_source_file(tmp_path: Path, archives: dict[str, Path]) -> None:
    messages: list[str] = []
    summary = build_corpus(tmp_path / "corpus", progress=messages.append, registry=_registry(archives))
    assert summary.missing == {}
    items = load_corpus(tmp_path / "corpus")
    assert len(items) == summary.items == 4 + 3 + 2
    by_name = {Path(i.original).name: i for i in items}
    assert "broken.jpg" not in by_name and "fake/data/broken.jpg" in summary.sources["pics"].skipped
    assert any("broken.jpg" in m for m in messages)

    with zipfile.ZipFile(archives["wheel"]) as zf:
        for name in ("one.jpg", "two.png", "three_left.jpg"):
            item = by_name[name]
            assert item.kind == "photo" and item.path.endswith(Path(name).suffix)
            assert (tmp_path / "corpus" / item.path).read_bytes() == zf.read(item.original)  # original bytes

    for name, rate, seconds in (("a.wav", 22050, 1.0), ("b.flac", 44100, 0.5), ("c.wav", 16000, 0.7),
                                ("p.raw", 8000, 0.6), ("q.g722", 16000, 0.8)):
        item = by_name[name]
        info = sf.info(str(tmp_path / "corpus" / item.path))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
        assert item.sample_rate == 16000 and item.original_rate == rate and item.path.endswith(".wav")
        assert abs(item.duration - seconds) < 0.02 and abs(info.duration - seconds) < 0.02
        x, _ = sf.read(str(tmp_path / "corpus" / item.path))
        assert 0.1 < np.abs(x).max() < 1.0  # the signal survived decoding and resampling

    with zipfile.ZipFile(archives["wheel"]) as zf:  # 16 kHz mono 16-bit in: the very same samples out
        want, _ = sf.read(io.BytesIO(zf.read("fake/speech/c.wav")), dtype="int16")
    got, _ = sf.read(str(tmp_path / "corpus" / by_name["c.wav"].path), dtype="int16")
    assert np.array_equal(got, want)

    assert by_name["a.wav"].license == "MIT" and by_name["a.wav"].copyright == "Alice"
    assert by_name["b.flac"].license == "CC-BY-4.0" and by_name["b.flac"].speaker == "spk-b"
    assert by_name["three_left.jpg"].split == by_name["three_right.jpg"].split  # a near-duplicate pair stays together
    for item in items:
        assert item.license and item.version and item.package
        assert item.split == assign_splits({i.group for i in items if i.source == item.source})[item.group]
    assert set(summary.sources["pics"].splits) >= {"train", "test"}


def test_manifest_round_trip_and_hashes(tmp_path: Path, archives: dict[str, Path]) -> None:
    summary = build_corpus(tmp_path, registry=_registry(archives))
    lines = summary.manifest.read_text("utf-8").splitlines()
    items = load_corpus(tmp_path)
    assert [json.loads(line)["path"] for line in lines] == [i.path for i in items] == sorted(i.path for i in items)
    for item in items:
        assert corpus.hashlib.sha256((tmp_path / item.path).read_bytes()).hexdigest() == item.sha256
    assert corpus._read_items(lines, summary.manifest) == items


def test_rebuild_reuses_everything_and_repairs_what_was_lost(tmp_path: Path, archives: dict[str, Path]) -> None:
    registry = _registry(archives)
    build_corpus(tmp_path, registry=registry)
    manifest = (tmp_path / "manifest.jsonl").read_bytes()
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "files").rglob("*") if p.is_file()}

    again = build_corpus(tmp_path, registry=registry)
    assert all(r.reused for r in again.sources.values())
    assert (tmp_path / "manifest.jsonl").read_bytes() == manifest
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    lost = load_corpus(tmp_path)[0]
    (tmp_path / lost.path).unlink()
    repaired = build_corpus(tmp_path, registry=registry)
    assert not repaired.sources[lost.source].reused
    assert sum(r.reused for r in repaired.sources.values()) == len(registry) - 1
    assert (tmp_path / "manifest.jsonl").read_bytes() == manifest

    only = build_corpus(tmp_path, sources=["raw"], registry=registry)  # a subset keeps the others listed
    assert set(only.sources) == {"raw"} and only.items == len(load_corpus(tmp_path)) == 9


def test_missing_sources_are_reported_not_fatal(tmp_path: Path, archives: dict[str, Path]) -> None:
    registry = _registry(archives)
    registry["gone"] = Source("gone", "file", str(tmp_path / "nowhere.whl"), "photo", ("*",), license="MIT")
    registry["empty"] = Source("empty", "file", str(archives["wheel"]), "photo", ("no/such/*",), license="MIT")
    messages: list[str] = []
    summary = build_corpus(tmp_path / "c", progress=messages.append, registry=registry)
    assert set(summary.missing) == {"gone", "empty"}
    assert "not found" in summary.missing["gone"] and "matches" in summary.missing["empty"]
    assert "MISSING" in summary.render() and any("gone" in m and "warning" in m for m in messages)
    assert {i.source for i in load_corpus(tmp_path / "c")} == {"pics", "talk", "raw"}
    with pytest.raises(InputError, match="unknown corpus source"):
        build_corpus(tmp_path / "c", sources=["nope"], registry=registry)


def test_load_corpus_without_a_build_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="provguard corpus build"):
        load_corpus(tmp_path)
    (tmp_path / "manifest.jsonl").write_text('{"path": "x"}\n')
    with pytest.raises(InputError, match="line 1"):
        load_corpus(tmp_path)


def test_default_corpus_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVGUARD_DATA", str(tmp_path))
    assert default_corpus_dir() == tmp_path / "corpus"
    monkeypatch.delenv("PROVGUARD_DATA")
    assert default_corpus_dir().name == "corpus"


def test_dep5_lookup() -> None:
    dep5 = parse_dep5(DEP5)
    assert dep5 is not None
    assert dep5.lookup("usr/share/fake/sounds/a.wav") == ("CC-BY-SA-3.0", "2021, A Speaker")
    assert dep5.lookup("usr/share/fake/sounds/b.wav")[0] == "CC0-1.0"  # the last matching stanza wins
    assert dep5.lookup("usr/share/fake/data/x.png")[0] == "GPL-2.0-or-later"  # a directory pattern is not guessed
    assert dep5.lookup("usr/share/elsewhere/b.wav")[0] == "CC0-1.0"  # installed elsewhere: matched by file name
    assert parse_dep5("This package was debianized by someone.\nIt is GPL.\n") is None
    header_only = parse_dep5("Format: x\nLicense: LGPL-2.1\nCopyright: 2007 Someone\n")
    assert header_only is not None and header_only.lookup("any/file.wav") == ("LGPL-2.1-only", "2007 Someone")


def _make_deb(tmp_path: Path) -> Path:
    root = tmp_path / "debroot"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text("Package: fakesounds\nVersion: 1:2.3-4\nArchitecture: all\n"
                                             "Maintainer: Nobody <nobody@example.org>\nDescription: test\n")
    (root / "usr/share/doc/fakesounds").mkdir(parents=True)
    (root / "usr/share/doc/fakesounds/copyright").write_text(DEP5)
    (root / "usr/share/fakesounds/sounds").mkdir(parents=True)
    (root / "usr/share/fakesounds/sounds/a.wav").write_bytes(_wav(0.4, 8000, 7))
    (root / "usr/share/fakesounds/sounds/b.wav").write_bytes(_wav(0.4, 11025, 8))
    (root / "usr/share/fakesounds/other.wav").write_bytes(_wav(0.4, 8000, 9))
    deb = tmp_path / "fakesounds_1%3a2.3-4_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)], check=True,
                   capture_output=True)
    return deb


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb to make a .deb")
@pytest.mark.parametrize("with_dpkg", [True, False])
def test_deb_members_and_licenses_from_the_copyright_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          with_dpkg: bool) -> None:
    deb = _make_deb(tmp_path)
    downloads = tmp_path / "corpus" / "downloads"
    downloads.mkdir(parents=True)
    shutil.copy(deb, downloads / deb.name)  # a cached download: nothing is fetched
    if not with_dpkg:
        monkeypatch.setattr(corpus_sources.shutil, "which", lambda _name: None)  # the pure-Python ar reader
    src = Source("fake-deb", "deb", "fakesounds", "speech", ("usr/share/fakesounds/*.wav",),
                 exclude=("*/other.wav",), root="usr/share/fakesounds/")
    summary = build_corpus(tmp_path / "corpus", registry={"fake-deb": src})
    assert summary.missing == {}
    items = {Path(i.original).name: i for i in load_corpus(tmp_path / "corpus")}
    assert set(items) == {"a.wav", "b.wav"}
    assert items["a.wav"].license == "CC-BY-SA-3.0" and items["b.wav"].license == "CC0-1.0"
    assert items["b.wav"].version == "1:2.3-4" and items["b.wav"].original_rate == 11025
    assert items["a.wav"].path == "files/fake-deb/sounds_a.wav"


def test_every_real_source_names_a_license_route_and_a_valid_kind() -> None:
    for name, src in SOURCES.items():
        assert src.name == name and src.kind in corpus.KINDS and src.origin in corpus_sources.ORIGINS
        assert src.license or src.origin == "deb" or all(
            any(corpus_sources.fnmatchcase(m, p) for p, _, _ in src.per_file) for m in src.members), name
        assert src.origin == "deb" or src.version, f"{name}: PyPI sources are pinned"
    wav, g722 = SOURCES["asterisk-wav"], SOURCES["asterisk-g722"]
    member = "usr/share/asterisk/sounds/en_US_f_Allison/digits/1"
    assert wav.group(member + ".wav") == g722.group(member + ".g722")  # same recording, same split


def test_the_shipped_fixture_slice_is_a_valid_corpus_with_licenses() -> None:
    fixtures = Path(__file__).resolve().parents[3] / "fixtures"
    items = load_corpus(fixtures / "corpus")
    named = (fixtures / "LICENSES").read_text("utf-8")
    assert {i.kind for i in items} == {"photo", "speech"}
    assert {p.name for p in (fixtures / "corpus").iterdir()} == {i.path for i in items} | {"manifest.jsonl"}
    for item in items:
        data = (fixtures / "corpus" / item.path).read_bytes()
        assert corpus.hashlib.sha256(data).hexdigest() == item.sha256
        assert item.license and Path(item.path).name in named
        if item.kind == "speech":
            assert sf.info(io.BytesIO(data)).samplerate == 16000
