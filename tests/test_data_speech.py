"""Speech datasets: the file layouts built in tmp_path from tiny synthetic wavs, and a small digits-synth."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gen_media.data import (
    DATASETS,
    DIGIT_NAMES,
    LAYOUTS,
    DigitsSynthConfig,
    SpeechDataset,
    data_home,
    espeak,
    load_speech_dataset,
)
from gen_media.data import digits_synth as ds_mod
from gen_media.data.base import fit_length, resample, trim_silence


@pytest.fixture(autouse=True)
def _data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GEN_MEDIA_DATA", str(tmp_path / "gm_data"))


def tone(freq: float = 440.0, sr: int = 16000, seconds: float = 0.5, channels: int = 1, amp: float = 0.5):
    t = np.arange(round(sr * seconds)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def write(path: Path, data: np.ndarray, sr: int, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, **kw)
    return path


def write_bad_files(directory: Path, prefix: str = "") -> None:
    """One corrupt, one empty (0 frames) and one silent file."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{prefix}corrupt.wav").write_bytes(b"RIFF\x00\x01garbage, not a wave file" * 3)
    write(directory / f"{prefix}empty.wav", np.zeros(0, np.float32), 16000)
    write(directory / f"{prefix}silent.wav", np.zeros(8000, np.float32), 16000)


# ----------------------------------------------------------------------------------------------------------
# helpers and container


def test_fit_length_pads_centred_and_crops_centre():
    x = np.arange(1, 5, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(x, 8), [0, 0, 1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 8, offset=0), [1, 2, 3, 4, 0, 0, 0, 0])
    np.testing.assert_array_equal(fit_length(np.arange(10, dtype=np.float32), 4), [3, 4, 5, 6])


def test_trim_silence_keeps_the_sound():
    sr = 16000
    x = np.concatenate([np.zeros(sr // 2), tone(sr=sr, seconds=0.25), np.zeros(sr // 2)]).astype(np.float32)
    y = trim_silence(x, sr, top_db=40, margin_s=0.0)
    assert abs(len(y) - sr // 4) <= sr // 100
    assert len(trim_silence(np.zeros(100, np.float32), sr)) == 0


def test_resample_length_and_frequency():
    y = resample(tone(1000, sr=8000, seconds=1.0), 8000, 16000)
    assert y.shape == (16000,) and y.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) - 1000) <= 1  # 1 Hz bins


def test_speech_dataset_checks_shapes():
    with pytest.raises(ValueError, match="float32"):
        SpeechDataset("x", np.zeros((2, 3)), None, [], 16000)
    with pytest.raises(ValueError, match="labels"):
        SpeechDataset("x", np.zeros((2, 3), np.float32), np.zeros(3, np.int64), [], 16000)


def test_data_home_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GEN_MEDIA_DATA", str(tmp_path / "elsewhere"))
    assert data_home() == tmp_path / "elsewhere"
    monkeypatch.delenv("GEN_MEDIA_DATA")
    assert data_home() == Path.home() / ".cache" / "gen_media"


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ValueError, match="unknown speech dataset 'nope'") as err:
        load_speech_dataset("nope")
    for name in DATASETS:
        assert name in str(err.value)
    assert set(DATASETS) == set(LAYOUTS) == {"digits-synth", "sc09", "fsdd", "ljspeech", "folder"}


@pytest.mark.parametrize("name", ["sc09", "fsdd", "ljspeech", "folder"])
def test_empty_root_names_the_layout(tmp_path, name):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(FileNotFoundError) as err:
        load_speech_dataset(name, root)
    assert str(root) in str(err.value) and LAYOUTS[name] in str(err.value)


@pytest.mark.parametrize("name", ["sc09", "fsdd", "ljspeech", "folder"])
def test_missing_default_root_names_the_layout(name):
    with pytest.raises(FileNotFoundError, match="GEN_MEDIA_DATA") as err:
        load_speech_dataset(name)
    assert LAYOUTS[name] in str(err.value)


# ----------------------------------------------------------------------------------------------------------
# sc09


def make_speech_commands(directory: Path, with_lists: bool = True) -> dict[str, list[str]]:
    """3 speakers x 10 digits (+ a non-digit word and background noise); speaker c is valid, b test."""
    split_of = {"a": "train", "b": "test", "c": "valid"}
    files: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for label, word in enumerate(DIGIT_NAMES):
        for spk in "abc":
            rel = f"{word}/{spk}0000000_nohash_0.wav"
            write(directory / rel, tone(200 + 50 * label, 16000, 1.0), 16000)
            files[split_of[spk]].append(rel)
    write(directory / "yes" / "a0000000_nohash_0.wav", tone(), 16000)
    write(directory / "_background_noise_" / "noise.wav", tone(), 16000)
    # odd train files: stereo 44.1 kHz, short (padded), corrupt, empty, silent
    write(directory / "three" / "d0000000_nohash_0.wav", tone(300, 44100, 1.0, channels=2), 44100)
    write(directory / "four" / "e0000000_nohash_0.wav", tone(300, 16000, 0.3), 16000)
    write_bad_files(directory / "five", prefix="f0000000_nohash_")
    files["train"] += ["three/d0000000_nohash_0.wav", "four/e0000000_nohash_0.wav"]
    if with_lists:
        (directory / "validation_list.txt").write_text("\n".join(files["valid"] + ["yes/c0000000_nohash_0.wav"]))
        (directory / "testing_list.txt").write_text("\n".join(files["test"]))
    return files


def test_sc09_torchaudio_layout_splits_labels_and_skips(tmp_path, caplog):
    root = tmp_path / "sc"
    sc_dir = root / "SpeechCommands" / "speech_commands_v0.02"
    files = make_speech_commands(sc_dir)
    with caplog.at_level(logging.WARNING):
        train = load_speech_dataset("sc09", root, split="train", progress=False)
    assert train.waves.shape == (len(files["train"]), 16000) and train.waves.dtype == np.float32
    assert train.skipped == {"empty": 1, "silent": 1, "unreadable": 1}
    assert "skipped 3" in caplog.text
    assert train.label_names == list(DIGIT_NAMES)
    assert sorted(train.labels.tolist()) == sorted(list(range(10)) + [3, 4])
    assert all("b0000000" not in s and "c0000000" not in s for s in train.sources)
    for split in ("valid", "test"):
        part = load_speech_dataset("sc09", root, split=split, progress=False)
        assert len(part) == 10 and part.skipped == {}
        np.testing.assert_array_equal(np.sort(part.labels), np.arange(10))
    # the 16 kHz sources reach 8 kHz; the short file is centred and zero-padded
    small = load_speech_dataset("sc09", sc_dir, split="train", sample_rate=8000, clip_seconds=0.5, progress=False)
    assert small.waves.shape == (len(files["train"]), 4000) and small.sample_rate == 8000
    short = small.waves[small.sources.index("four/e0000000_nohash_0.wav")]
    assert np.all(short[:200] == 0) and np.abs(short[2000]) > 0
    # stereo 44.1 kHz file: mixed to mono, resampled, same tone
    stereo = train.waves[train.sources.index("three/d0000000_nohash_0.wav")]
    assert abs(np.argmax(np.abs(np.fft.rfft(stereo))) - 300) <= 1


def test_sc09_without_lists_uses_the_speaker_hash_rule(tmp_path):
    sc_dir = tmp_path / "speech_commands_v0.01"
    for i in range(60):  # 60 speakers, two recordings each
        for k in range(2):
            word = DIGIT_NAMES[i % 10]
            write(sc_dir / word / f"{i * 7919:08x}_nohash_{k}.wav", tone(200 + 20 * (i % 10), 16000, 0.2), 16000)
    parts = {s: load_speech_dataset("sc09", tmp_path, split=s, progress=False) for s in ("train", "valid", "test")}
    whole = load_speech_dataset("sc09", tmp_path, split="all", progress=False)
    assert sum(len(p) for p in parts.values()) == len(whole) == 120
    assert all(len(p) > 0 for p in parts.values()) and len(parts["train"]) > 60
    speakers = {s: {src.split("/")[1].split("_")[0] for src in p.sources} for s, p in parts.items()}
    assert not (speakers["train"] & speakers["valid"] or speakers["train"] & speakers["test"]
                or speakers["valid"] & speakers["test"])


def test_sc09_wavegan_layout(tmp_path):
    for split, n in (("train", 3), ("valid", 1), ("test", 2)):
        for i in range(n):
            for label, word in enumerate(DIGIT_NAMES[:4]):
                write(tmp_path / "sc09" / split / f"{word.capitalize()}_{i:08d}_nohash_0.wav",
                      tone(200 + 40 * label, 16000, 1.0), 16000)
    ds = load_speech_dataset("sc09", tmp_path, split="test", progress=False)
    assert ds.waves.shape == (8, 16000)
    np.testing.assert_array_equal(np.bincount(ds.labels, minlength=10)[:4], [2, 2, 2, 2])


# ----------------------------------------------------------------------------------------------------------
# fsdd


def test_fsdd_splits_resampling_and_skips(tmp_path):
    rec = tmp_path / "recordings"
    for digit in range(10):
        for speaker in ("jackson", "theo"):
            for index in range(7):
                write(rec / f"{digit}_{speaker}_{index}.wav", tone(150 + 30 * digit, 8000, 0.4), 8000)
    write_bad_files(rec, prefix="3_nicolas_1")  # names 3_nicolas_1corrupt... do not match the pattern
    write_bad_files(rec / "..", prefix="")  # not in recordings/: never seen
    write(rec / "7_yweweler_9.wav", np.zeros(4000, np.float32), 8000)  # silent, train split
    train = load_speech_dataset("fsdd", tmp_path, progress=False)
    test = load_speech_dataset("fsdd", rec, split="test", sample_rate=8000, progress=False)
    assert train.waves.shape == (10 * 2 * 2, 16000)
    assert test.waves.shape == (10 * 2 * 5, 8000)
    assert train.skipped == {"silent": 1, "unrecognized-name": 3}
    np.testing.assert_array_equal(np.bincount(train.labels), [4] * 10)
    assert all(int(Path(s).stem.split("_")[2]) <= 4 for s in test.sources)
    # 8 kHz recording upsampled: its tone is still where it was
    i = train.sources.index("9_theo_5.wav")
    assert abs(np.argmax(np.abs(np.fft.rfft(train.waves[i]))) - 420) <= 1
    with pytest.raises(ValueError, match="split"):
        load_speech_dataset("fsdd", tmp_path, split="valid")
    # limit: a seeded random subset across labels, returned in path order
    some = load_speech_dataset("fsdd", tmp_path, split="all", limit=15, progress=False)
    assert len(some) == 15 and len(set(some.labels.tolist())) > 3 and some.sources == sorted(some.sources)
    assert some.sources == load_speech_dataset("fsdd", tmp_path, split="all", limit=15, progress=False).sources
    assert some.sources != load_speech_dataset("fsdd", tmp_path, split="all", limit=15, seed=1,
                                               progress=False).sources


def test_only_bad_files_is_a_value_error_naming_the_layout(tmp_path):
    rec = tmp_path / "recordings"
    rec.mkdir()
    (rec / "1_alice_0.wav").write_bytes(b"not a wave file")
    write(rec / "2_alice_0.wav", np.zeros(0, np.float32), 8000)
    write(rec / "3_alice_0.wav", np.zeros(800, np.float32), 8000)
    with pytest.raises(ValueError, match="no usable audio") as err:
        load_speech_dataset("fsdd", tmp_path, split="all", progress=False)
    for reason in ("unreadable", "empty", "silent"):
        assert f"'{reason}': 1" in str(err.value)
    assert LAYOUTS["fsdd"] in str(err.value)


# ----------------------------------------------------------------------------------------------------------
# ljspeech


def test_ljspeech_segments_and_splits(tmp_path):
    lj = tmp_path / "LJSpeech-1.1"
    rows = []
    for i in range(1, 23):
        utt = f"LJ001-{i:04d}"
        rows.append(f"{utt}|Text {i}.|Text {i}.")
        if i == 5:
            continue  # listed but missing
        if i == 6:
            (lj / "wavs").mkdir(parents=True, exist_ok=True)
            (lj / "wavs" / f"{utt}.wav").write_bytes(b"junk")
            continue
        write(lj / "wavs" / f"{utt}.wav", tone(220, 22050, 2.6), 22050)  # 2 full clips + 0.6 s -> 3 clips
    (lj / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    train = load_speech_dataset("ljspeech", tmp_path, progress=False)
    test = load_speech_dataset("ljspeech", lj, split="test", clip_seconds=0.5, progress=False)
    assert train.labels is None and train.label_names == []
    assert train.waves.shape == (3 * (22 - 3), 16000)  # 22 rows - test row 20 - missing - corrupt
    assert train.skipped == {"missing": 1, "unreadable": 1}
    # 2.6 s in 0.5 s clips: 5 full ones; the last 0.1 s (less than half a clip) is dropped
    assert test.waves.shape == (5, 8000) and {s.split("#")[0] for s in test.sources} == {"wavs/LJ001-0020.wav"}
    last = train.waves[train.sources.index("wavs/LJ001-0001.wav#2")]
    assert np.abs(last[: int(0.55 * 16000)]).max() > 0.1 and np.all(last[int(0.65 * 16000):] == 0)
    limited = load_speech_dataset("ljspeech", tmp_path, split="all", limit=4, progress=False)
    assert len(limited) == 4


# ----------------------------------------------------------------------------------------------------------
# folder


def test_folder_labelled_mixed_formats(tmp_path):
    for label, name in enumerate(["cat", "dog"]):
        for i in range(10):
            write(tmp_path / name / f"{i}.wav", tone(300 + 100 * label, 22050, 0.7), 22050)
        write(tmp_path / name / "deep" / "x.flac", tone(300 + 100 * label, 48000, 0.7, channels=2), 48000)
        write(tmp_path / name / "y.ogg", tone(300 + 100 * label, 16000, 0.7), 16000, format="OGG",
              subtype="VORBIS")
    write(tmp_path / "loose.wav", tone(), 16000)
    write_bad_files(tmp_path / "dog")
    (tmp_path / "dog" / "notes.txt").write_text("not audio")
    everything = load_speech_dataset("folder", tmp_path, split="all", progress=False)
    assert everything.label_names == ["cat", "dog"]
    assert everything.waves.shape == (24, 16000)
    assert everything.skipped == {"empty": 1, "silent": 1, "unlabelled": 1, "unreadable": 1}
    np.testing.assert_array_equal(np.bincount(everything.labels), [12, 12])
    flac = everything.waves[everything.sources.index("dog/deep/x.flac")]
    assert abs(np.argmax(np.abs(np.fft.rfft(flac))) - 400) <= 1
    test = load_speech_dataset("folder", tmp_path, split="test", progress=False)
    train = load_speech_dataset("folder", tmp_path, split="train", progress=False)
    assert len(test) + len(train) == 24 and not set(test.sources) & set(train.sources)
    assert len(test) >= 2  # every 10th file of each label (the bad files count as files here)


def test_folder_unlabelled_and_segmented(tmp_path):
    write(tmp_path / "a.wav", tone(sr=16000, seconds=2.0), 16000)
    write(tmp_path / "b.flac", tone(sr=8000, seconds=0.25), 8000)
    ds = load_speech_dataset("folder", tmp_path, split="all", segment=True, progress=False)
    assert ds.labels is None and ds.label_names == []
    assert ds.waves.shape == (3, 16000)  # a: 2 clips, b: one padded clip
    assert ds.sources == ["a.wav#0", "a.wav#1", "b.flac#0"]
    cropped = load_speech_dataset("folder", tmp_path, split="all", clip_seconds=0.5, progress=False)
    assert cropped.waves.shape == (2, 8000)


# ----------------------------------------------------------------------------------------------------------
# digits-synth (small: 1 accent x 2 variants x 10 digits)

SMALL = dict(accents=("en-us",), variants=("m3", "f2"), test_variants=("f2",), takes=1, progress=False)


def test_espeak_synthesis_is_a_pure_function():
    a = espeak.synthesize("seven.", "en-us+f2", rate=160, pitch=40, seed=3)
    espeak.synthesize("three!", "en+klatt", rate=200)  # would change libespeak-ng's static state
    b = espeak.synthesize("seven.", "en-us+f2", rate=160, pitch=40, seed=3)
    assert a.dtype == np.int16 and len(a) > 0.2 * espeak.NATIVE_SAMPLE_RATE
    np.testing.assert_array_equal(a, b)
    assert espeak.espeak_version()[0].isdigit()


def test_espeak_rejects_unknown_voices_before_the_library_sees_them():
    with pytest.raises(ValueError, match="language"):
        espeak.check_voice("f1")  # a variant alone crashes libespeak-ng
    with pytest.raises(ValueError, match="variant"):
        espeak.check_voice("en-us+nobody")
    espeak.check_voice("en-gb-scotland+m3")


def test_digits_synth_small(tmp_path):
    train = load_speech_dataset("digits-synth", **SMALL)
    test = load_speech_dataset("digits-synth", split="test", **SMALL)
    assert train.waves.shape == (10, 16000) and test.waves.shape == (10, 16000)
    assert train.label_names == list(DIGIT_NAMES) and train.skipped == {}
    np.testing.assert_array_equal(train.labels, np.arange(10))
    assert all("+m3|" in s for s in train.sources) and all("+f2|" in s for s in test.sources)
    waves = np.concatenate([train.waves, test.waves])
    peaks = np.abs(waves).max(axis=1)
    assert np.all(peaks >= 0.49) and np.all(peaks <= 0.951)  # peak_range (0.5, 0.95), on the 16-bit grid
    np.testing.assert_array_equal(np.round(waves * 32768), waves * 32768)
    assert np.all(waves[:, :100] == 0) and np.all(waves[:, -100:] == 0)  # the word sits inside the clip
    rms = np.sqrt(np.mean(train.waves**2, axis=1))
    assert np.all(rms > 0.02)
    # different digits differ (and are not just shifted copies): compare magnitude spectra
    spectra = np.abs(np.fft.rfft(train.waves, axis=1))
    spectra /= np.linalg.norm(spectra, axis=1, keepdims=True)
    similarity = spectra @ spectra.T
    assert similarity[~np.eye(10, dtype=bool)].max() < 0.99
    cache_files = list((tmp_path / "gm_data" / "digits-synth").glob("*.npz"))
    assert len(cache_files) == 1 and not list(cache_files[0].parent.glob("*.tmp"))


def test_digits_synth_deterministic_and_seeded():
    a = load_speech_dataset("digits-synth", cache=False, **SMALL)
    b = load_speech_dataset("digits-synth", cache=False, **SMALL)
    np.testing.assert_array_equal(a.waves, b.waves)
    assert a.sources == b.sources
    c = load_speech_dataset("digits-synth", cache=False, seed=1, **SMALL)
    assert not np.array_equal(a.waves, c.waves)
    # a clip does not depend on which other clips are built
    one = load_speech_dataset("digits-synth", cache=False, **{**SMALL, "variants": ("m3",), "test_variants": ()})
    np.testing.assert_array_equal(one.waves, a.waves)


def test_digits_synth_worker_processes_give_the_same_clips():
    here = load_speech_dataset("digits-synth", cache=False, split="all", **SMALL)
    pool = load_speech_dataset("digits-synth", cache=False, split="all", workers=2, **SMALL)
    np.testing.assert_array_equal(here.waves, pool.waves)
    assert here.sources == pool.sources


def test_digits_synth_falls_back_to_this_process_when_workers_fail(monkeypatch, caplog):
    from concurrent.futures.process import BrokenProcessPool

    class Broken:
        def __init__(self, *args, **kwargs):
            raise BrokenProcessPool("no workers")

    monkeypatch.setattr(ds_mod, "ProcessPoolExecutor", Broken)
    with caplog.at_level(logging.WARNING):
        ds = load_speech_dataset("digits-synth", cache=False, workers=2, **SMALL)
    assert ds.waves.shape == (10, 16000) and "building in this process" in caplog.text


def test_digits_synth_reads_its_cache(monkeypatch):
    first = load_speech_dataset("digits-synth", split="all", **SMALL)

    def fail(*args, **kwargs):
        raise AssertionError("synthesized although the cache should have been used")

    monkeypatch.setattr(ds_mod, "_synthesize_all", fail)
    monkeypatch.setattr(espeak, "synthesize", fail)
    again = load_speech_dataset("digits-synth", split="all", **SMALL)
    np.testing.assert_array_equal(first.waves, again.waves)
    np.testing.assert_array_equal(first.labels, again.labels)
    # any content parameter changes the key: no stale hit
    for change in ({"sample_rate": 8000}, {"clip_seconds": 0.8}, {"seed": 2}, {"takes": 2}, {"rate": (150, 160)}):
        with pytest.raises(AssertionError, match="synthesized"):
            load_speech_dataset("digits-synth", split="all", **{**SMALL, **change})


def test_digits_synth_cache_key_and_rebuild(tmp_path):
    cfg = DigitsSynthConfig(accents=("en-us",), variants=("m3", "f2"), test_variants=("f2",), takes=1)
    path = ds_mod.cache_path(sample_rate=16000, config=cfg)
    assert path.parent == tmp_path / "gm_data" / "digits-synth"
    assert ds_mod.cache_path(sample_rate=16000, config=cfg, seed=1) != path
    assert ds_mod.cache_path(sample_rate=22050, config=cfg) != path
    first = load_speech_dataset("digits-synth", config=cfg, progress=False, split="all")
    assert path.is_file()
    path.write_bytes(b"truncated")  # a broken cache is rebuilt, not trusted
    again = load_speech_dataset("digits-synth", config=cfg, progress=False, split="all")
    np.testing.assert_array_equal(first.waves, again.waves)
    custom = load_speech_dataset("digits-synth", tmp_path / "mine", sample_rate=8000, clip_seconds=0.75,
                                 config=cfg, progress=False)
    assert custom.waves.shape == (10, 6000) and list((tmp_path / "mine").glob("*.npz"))


def test_digits_synth_option_errors():
    with pytest.raises(TypeError, match="unknown digits-synth option"):
        load_speech_dataset("digits-synth", colour="blue")
    with pytest.raises(ValueError, match="split"):
        load_speech_dataset("digits-synth", split="valid")
    with pytest.raises(ValueError, match="test_variants"):
        DigitsSynthConfig(variants=("m3",), test_variants=("f2",))
    with pytest.raises(ValueError, match="variant"):
        load_speech_dataset("digits-synth", **{**SMALL, "variants": ("m3", "nobody"), "test_variants": ()})


def test_default_config_size():
    cfg = DigitsSynthConfig()
    assert cfg.num_clips >= 3000
    for voice in cfg.voices:
        espeak.check_voice(voice)
    test_share = len(cfg.test_variants) / len(cfg.variants)
    assert 0.1 <= test_share <= 0.25
