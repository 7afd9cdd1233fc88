"""Speech resynthesis: the mel front end, Griffin-Lim, the LPC vocoder, and the generate_audio entry point."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from provguard.errors import (
    CorruptMediaError,
    InputError,
    OutputExistsError,
    ProvguardError,
    UnsupportedMediaError,
)
from provguard.generate import audio, griffinlim, lpc
from provguard.generate import mel as melfe

from .speechlike import median_f0, vowel

FIXTURE_SPEECH = Path(__file__).resolve().parents[3] / "fixtures" / "speech"


def write_wav(path: Path, x: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), x, rate, subtype=subtype)
    return path


# --- mel front end ------------------------------------------------------------------------------------------------

def test_stft_round_trip_and_log_mel_shape() -> None:
    x = vowel(1.0)
    spec = melfe.stft(x)
    assert spec.shape == (melfe.N_FFT // 2 + 1, melfe.n_frames(x.size))
    assert np.max(np.abs(melfe.istft(spec, x.size) - x)) < 1e-5
    logmel = melfe.log_mel(x)
    assert logmel.shape == (melfe.N_MELS, melfe.n_frames(x.size)) and logmel.dtype == np.float32
    assert logmel.min() >= np.log(melfe.LOG_FLOOR) - 1e-6


def test_log_mel_torch_matches_numpy() -> None:
    torch = pytest.importorskip("torch")
    x = vowel(0.6)
    got = melfe.log_mel_torch(torch.from_numpy(x[None].astype(np.float64)))[0].numpy()
    assert np.max(np.abs(got - melfe.log_mel(x))) < 1e-3


def test_mel_distance_orders_copies_by_damage() -> None:
    x = vowel(2.0)
    rng = np.random.default_rng(0)
    slight = x + 0.001 * rng.standard_normal(x.size).astype(np.float32)
    heavy = x + 0.05 * rng.standard_normal(x.size).astype(np.float32)
    assert melfe.mel_distance_db(x, x) == 0.0
    assert 0.0 < melfe.mel_distance_db(x, slight) < melfe.mel_distance_db(x, heavy)


def test_shift_mel_moves_energy_by_an_octave() -> None:
    x = vowel(1.0)
    logmel = melfe.log_mel(x)
    centers = melfe.mel_centers_hz()

    def centroid(m: np.ndarray) -> float:
        power = np.exp(2 * m).mean(axis=1)
        return float((power * centers).sum() / power.sum())

    up = melfe.shift_mel(logmel, 12.0)
    assert up.shape == logmel.shape
    assert centroid(up) / centroid(logmel) == pytest.approx(2.0, rel=0.15)
    assert np.array_equal(melfe.shift_mel(logmel, 0.0), logmel)


# --- Griffin-Lim and LPC ------------------------------------------------------------------------------------------

def test_griffin_lim_is_seeded_and_close_to_the_input() -> None:
    x = vowel(1.5)
    logmel = melfe.log_mel(x)
    a = griffinlim.griffin_lim(logmel, x.size, iterations=16, seed=3)
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.array_equal(a, griffinlim.griffin_lim(logmel, x.size, iterations=16, seed=3))
    assert not np.array_equal(a, griffinlim.griffin_lim(logmel, x.size, iterations=16, seed=4))
    noise = np.random.default_rng(0).standard_normal(x.size).astype(np.float32) * np.std(x)
    assert melfe.mel_distance_db(x, a) < melfe.mel_distance_db(x, noise)


def test_lpc_tracks_pitch_and_shifts_it_keeping_duration() -> None:
    x = vowel(2.0, f0=120.0)
    assert median_f0(x) == pytest.approx(120.0, rel=0.05)
    plain = lpc.lpc_vocode(x, seed=0)
    up = lpc.lpc_vocode(x, pitch=7.0, seed=0)
    assert plain.shape == up.shape == x.shape
    assert median_f0(plain) == pytest.approx(120.0, rel=0.06)
    assert median_f0(up) == pytest.approx(120.0 * 2 ** (7 / 12), rel=0.06)
    assert np.array_equal(plain, lpc.lpc_vocode(x, seed=0))


# --- resynthesize -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("vocoder", ["griffinlim", "lpc"])
def test_resynthesize_resamples_mixes_and_keeps_duration(vocoder: str) -> None:
    from scipy.signal import resample_poly

    x = vowel(1.2)
    stereo = np.stack([resample_poly(x, 441, 160), resample_poly(x, 441, 160) * 0.5], axis=1)  # 44.1 kHz, 2 ch
    out, rate = audio.resynthesize(stereo, 44100, vocoder=vocoder, seed=0)
    assert rate == 16000 and out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size - x.size) <= 1
    assert np.isfinite(out).all() and np.abs(out).max() <= audio.OUTPUT_PEAK + 1e-6
    again, _ = audio.resynthesize(stereo, 44100, vocoder=vocoder, seed=0)
    assert np.array_equal(out, again)


def test_pitch_shift_through_the_mel_moves_f0() -> None:
    x = vowel(2.0, f0=120.0)
    out, _ = audio.resynthesize(x, 16000, vocoder="griffinlim", pitch=5.0)
    assert median_f0(out) == pytest.approx(120.0 * 2 ** (5 / 12), rel=0.08)


@pytest.mark.parametrize(
    ("samples", "rate", "kwargs", "message"),
    [
        (np.full(4000, 0.1, np.float32), 16000, {}, "too short"),
        (np.zeros(32000, np.float32), 16000, {}, "silent"),
        (np.full(32000, np.nan, np.float32), 16000, {}, "NaN"),
        (np.full(32000, 0.1, np.float32), 16000, {"vocoder": "wavenet"}, "unknown vocoder"),
        (np.full(32000, 0.1, np.float32), 16000, {"pitch": 40.0}, "semitones"),
        (np.full(32000, 0.1, np.float32), 16000, {"pitch": float("nan")}, "semitones"),
    ],
)
def test_resynthesize_refuses_bad_input(samples: np.ndarray, rate: int, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        audio.resynthesize(samples, rate, **kwargs)


def test_software_agents_name_each_vocoder() -> None:
    agents = {v: audio.software_agent(v) for v in audio.VOCODERS}
    assert len(set(agents.values())) == len(audio.VOCODERS)
    assert all(v in agents[v] and "@" in agents[v] for v in audio.VOCODERS)


# --- generate_audio -----------------------------------------------------------------------------------------------

def test_generate_unsigned_is_deterministic_16bit_wav(tmp_path: Path) -> None:
    src = write_wav(tmp_path / "real.flac", vowel(1.0), rate=16000)
    a = audio.generate_audio(tmp_path / "a.wav", source=src, vocoder="lpc", seed=5, no_sign=True)
    b = audio.generate_audio(tmp_path / "b.wav", source=src, vocoder="lpc", seed=5, no_sign=True)
    assert a.read_bytes() == b.read_bytes()
    info = sf.info(str(a))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
    assert info.frames == 16000
    with pytest.raises(OutputExistsError):
        audio.generate_audio(a, source=src, vocoder="lpc", no_sign=True)
    audio.generate_audio(a, source=src, vocoder="lpc", seed=6, no_sign=True, force=True)
    assert a.read_bytes() != b.read_bytes()


def test_generate_signed_verifies_as_ai_generated(tmp_path: Path, dev_credentials) -> None:
    from provguard.report import TRUSTED
    from provguard.verify import verify

    src = FIXTURE_SPEECH / "allison_vm-intro.flac"  # real speech, 8 kHz FLAC
    out = audio.generate_audio(tmp_path / "fake.wav", source=src, vocoder="lpc", pitch=-3.0, seed=0)
    report = verify(out, detect=False)
    assert report.errors == []
    assert report.provenance.state == TRUSTED
    assert (report.provenance.digital_source_type or "").endswith("trainedAlgorithmicMedia")
    assert lpc.MODEL_NAME in str(report.provenance.software_agent or report.provenance.actions)
    assert report.watermark is not None and report.watermark.detected
    samples, rate = sf.read(out)
    assert rate == 16000 and samples.ndim == 1
    assert samples.shape[0] == round(sf.info(str(src)).duration * 16000)


@pytest.mark.parametrize("vocoder", ["griffinlim", "lpc"])
def test_real_speech_resynthesis_stays_closer_to_its_source_than_another_utterance(vocoder: str) -> None:
    a, rate_a = sf.read(str(FIXTURE_SPEECH / "librivox_sense_and_sensibility_0870.flac"), dtype="float32")
    b, _ = sf.read(str(FIXTURE_SPEECH / "librivox_sense_and_sensibility_0920.flac"), dtype="float32")
    n = min(a.size, b.size)
    out, _ = audio.resynthesize(a[:n], rate_a, vocoder=vocoder, seed=0)
    assert out.shape == (n,)
    assert melfe.mel_distance_db(a[:n], out) < melfe.mel_distance_db(a[:n], b[:n])


def test_generate_refuses_bad_sources(tmp_path: Path) -> None:
    short = write_wav(tmp_path / "short.wav", vowel(0.3))
    with pytest.raises(InputError, match="too short"):
        audio.generate_audio(tmp_path / "o1.wav", source=short, vocoder="lpc", no_sign=True)
    medium = write_wav(tmp_path / "medium.wav", vowel(1.0))
    with pytest.raises(InputError, match="watermark"):
        audio.generate_audio(tmp_path / "o2.wav", source=medium, vocoder="lpc")
    silent = write_wav(tmp_path / "silent.wav", np.zeros(16000, np.float32))
    with pytest.raises(InputError, match="silent"):
        audio.generate_audio(tmp_path / "o3.wav", source=silent, vocoder="lpc", no_sign=True)
    good = write_wav(tmp_path / "good.wav", vowel(1.0)).read_bytes()
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(good[:44] + b"\x00" * 3)
    with pytest.raises(ProvguardError):
        audio.generate_audio(tmp_path / "o4.wav", source=corrupt, vocoder="lpc", no_sign=True)
    flac = tmp_path / "truncated.flac"
    write_wav(flac, vowel(1.0))
    flac.write_bytes(flac.read_bytes()[:200])
    with pytest.raises(CorruptMediaError):
        audio.generate_audio(tmp_path / "o5.wav", source=flac, vocoder="lpc", no_sign=True)
    png = tmp_path / "picture.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(png)
    with pytest.raises(UnsupportedMediaError):
        audio.generate_audio(tmp_path / "o6.wav", source=png, vocoder="lpc", no_sign=True)
    with pytest.raises(InputError):
        audio.generate_audio(tmp_path / "o7.wav", source=tmp_path / "missing.wav", vocoder="lpc", no_sign=True)
    assert not any(p.name.startswith("o") for p in tmp_path.iterdir())


def test_generate_reads_mp3(tmp_path: Path) -> None:
    from provguard.media import MP3
    from provguard.mediaio import DecodedAudio, encode_audio

    x = vowel(1.0, rate=24000)
    data = encode_audio(DecodedAudio(x[:, None], 24000, MP3, bit_rate=64000), x[:, None])
    src = tmp_path / "real.mp3"
    src.write_bytes(data)
    out = audio.generate_audio(tmp_path / "out.wav", source=src, vocoder="griffinlim", no_sign=True)
    assert sf.info(str(out)).samplerate == 16000


def test_importing_the_entry_point_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, provguard.generate.audio, provguard.generate.lpc; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_load_speech_reads_m4a_and_refuses_a_picture(tmp_path: Path, helpers) -> None:  # noqa: ANN001
    x, rate = sf.read(str(FIXTURE_SPEECH / "librivox_sense_and_sensibility_0870.flac"), dtype="float32")
    source = tmp_path / "reading.m4a"
    source.write_bytes(helpers.m4a(x, rate))
    samples, got_rate = audio.load_speech(source)
    assert got_rate == rate and abs(samples.shape[0] - x.size) < 4096
    assert np.corrcoef(samples[: x.size, 0][2048:-2048], x[: samples.shape[0]][2048:-2048])[0, 1] > 0.9
    picture = tmp_path / "picture.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(picture)
    with pytest.raises(UnsupportedMediaError, match="M4A speech"):
        audio.load_speech(picture)
