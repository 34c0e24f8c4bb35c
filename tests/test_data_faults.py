"""Dataset faults the loaders must survive with a count and a message, never a bare crash: hours-long audio
(only its middle is read), non-finite samples, files that fail after reading, video files without a video
stream or without any bytes. (Unreadable, empty, silent, stereo and other-rate audio: test_data_speech.py.)"""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest
import soundfile as sf

import gen_media.data.speech as speech_data
import gen_media.data.video as video_data
from gen_media.data import load_speech_dataset, load_video_dataset
from gen_media.data.base import fit_length, read_audio


def tone(seconds: float, rate: int, freq: float) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_a_long_file_is_read_only_where_the_clip_comes_from(tmp_path, monkeypatch):
    noise = (0.2 * np.random.default_rng(0).standard_normal(60 * 16000)).astype(np.float32)  # 60 s, 16 kHz
    sf.write(tmp_path / "long.wav", noise, 16000, subtype="FLOAT")
    stereo = np.stack([tone(120, 22050, 500), tone(120, 22050, 500)], axis=1)  # 2 min, 22.05 kHz, stereo
    sf.write(tmp_path / "stereo.flac", stereo, 22050)
    reads = []
    original = sf.read
    monkeypatch.setattr(sf, "read", lambda *a, **k: reads.append(k.get("frames", -1)) or original(*a, **k))

    ds = load_speech_dataset("folder", tmp_path, split="all", sample_rate=16000, clip_seconds=1.0, progress=False)
    assert ds.sources == ["long.wav", "stereo.flac"] and not ds.skipped
    assert reads == [17600, 24256]  # (1 s + 2 x 50 ms) at 16 kHz and 22.05 kHz, rounded up; not 960,000 and 2,646,000
    # the same samples a centre crop of the whole file gives
    np.testing.assert_array_equal(ds.waves[0], fit_length(read_audio(tmp_path / "long.wav")[0], 16000))
    spectrum = np.abs(np.fft.rfft(ds.waves[1]))  # mixed to mono and resampled: still a 500 Hz tone
    assert abs(int(np.argmax(spectrum)) - 500) <= 1


def test_non_finite_audio_is_skipped_and_counted(tmp_path, caplog):
    for name, bad in (("nan", np.nan), ("inf", np.inf)):
        wave = tone(0.5, 16000, 300)
        wave[100] = bad
        sf.write(tmp_path / f"{name}.wav", wave, 16000, subtype="FLOAT")
    sf.write(tmp_path / "good.wav", tone(0.5, 16000, 300), 16000)
    with caplog.at_level(logging.WARNING):
        ds = load_speech_dataset("folder", tmp_path, split="all", progress=False)
    assert ds.sources == ["good.wav"] and ds.skipped == {"non-finite": 2}
    assert "skipped 2 of 3 files" in caplog.text


def test_a_file_that_fails_after_reading_is_skipped_with_its_name(tmp_path, monkeypatch, caplog):
    sf.write(tmp_path / "fine.wav", tone(0.5, 16000, 300), 16000)
    sf.write(tmp_path / "huge.wav", tone(0.5, 8000, 300), 8000)
    resample = speech_data.resample

    def failing(wave, orig, target):
        if orig == 8000:
            raise MemoryError("cannot allocate 40 GiB")
        return resample(wave, orig, target)

    monkeypatch.setattr(speech_data, "resample", failing)
    with caplog.at_level(logging.WARNING):
        ds = load_speech_dataset("folder", tmp_path, split="all", progress=False)
    assert ds.sources == ["fine.wav"] and ds.skipped == {"unusable": 1}
    assert "skipping huge.wav: MemoryError: cannot allocate 40 GiB" in caplog.text


def write_clip(path, n_frames: int = 6) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(n_frames):
            frame = np.full((32, 32, 3), 20 * i, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def test_video_without_a_video_stream_or_bytes_is_skipped(tmp_path, caplog):
    write_clip(tmp_path / "ok.mp4")
    sf.write(tmp_path / "sound_only.mkv", tone(0.5, 16000, 300), 16000, format="WAV")  # audio in a video name
    (tmp_path / "zero.mp4").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        ds = load_video_dataset("folder", tmp_path, frames=4, size=16, split="all")
    assert ds.sources == ["ok.mp4"] and ds.skipped == {"no-video": 1, "unreadable": 1}
    assert "skipped 2 of 3 files" in caplog.text


def test_video_that_fails_after_decoding_is_skipped_with_its_name(tmp_path, monkeypatch, caplog):
    write_clip(tmp_path / "a.mp4")
    write_clip(tmp_path / "b.mp4", n_frames=3)
    resize = video_data.resize_frames

    def failing(video, size):
        if len(video) == 3:
            raise ValueError("frame of an unexpected shape")
        return resize(video, size)

    monkeypatch.setattr(video_data, "resize_frames", failing)
    with caplog.at_level(logging.WARNING):
        ds = load_video_dataset("folder", tmp_path, frames=4, size=16, split="all")
    assert ds.sources == ["a.mp4"] and ds.skipped == {"unusable": 1}
    assert "skipping b.mp4: ValueError: frame of an unexpected shape" in caplog.text


@pytest.mark.parametrize("bad", [b"", b"RIFF\x00\x00\x00\x00WAVEfmt "])
def test_only_broken_audio_raises_a_message_naming_the_layout(tmp_path, bad):
    (tmp_path / "x.wav").write_bytes(bad)
    with pytest.raises(ValueError, match=r"no usable audio.*'unreadable': 1.*ROOT/<label>"):
        load_speech_dataset("folder", tmp_path, split="all", progress=False)
