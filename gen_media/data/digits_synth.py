"""``digits-synth``: the ten spoken digits "zero".."nine" (WaveGAN's SC09 task), synthesized locally.

Every clip is espeak-ng (through :mod:`gen_media.data.espeak`) saying one digit word with one voice: an English
accent (``en-us``, ``en`` (British), ``en-029`` (Caribbean), ``en-gb-scotland``, RP, Lancastrian, West
Midlands, New York) combined with a voice variant (speaker timbre: ``m1``, ``f3``, ``klatt``, ...). Each
(voice, digit) is rendered ``takes`` times with a speaking rate, base pitch, pitch range, final punctuation
(intonation), loudness and, optionally, position in the clip drawn from a generator seeded by
``(seed, voice, word, take)``: a clip does not depend on which other clips are built.

Processing per clip: synthesize at 22050 Hz -> trim leading and trailing silence (``trim_db``) ->
resample to ``sample_rate`` -> scale the peak to a value drawn from ``peak_range`` -> place the word in a
``clip_seconds`` clip (centred, moved by up to ``shift`` of the free space; a word longer than the clip is
centre-cropped) -> round to the 16-bit PCM grid.

Splits: the **test split holds out speakers**: every clip whose voice variant is in ``test_variants``
(default ``m6``, ``paul``, ``f5``, ``aunty``: two male, two female timbres, in all eight accents) is test,
the rest is train. There is no ``valid`` split (use part of train). With the defaults: 8 accents x 24
variants x 10 digits x 2 takes = 3,840 clips, 3,200 train and 640 test.

Cache: the full set (both splits) is written once to
``$GEN_MEDIA_DATA/digits-synth/digits-synth-<rate>hz-<key>.npz`` (``GEN_MEDIA_DATA`` defaults to
``~/.cache/gen_media``; a ``root`` argument replaces ``$GEN_MEDIA_DATA/digits-synth``). ``key`` hashes every
parameter that changes the content (the whole :class:`DigitsSynthConfig`, sample rate, clip length, seed,
the espeak-ng and espeakng-loader versions and a format number), so a stale file never matches. The file is
written to a temporary name and renamed, so a crash never leaves a half-written cache behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gen_media.files import atomic_write

from . import espeak
from .base import (
    DIGIT_NAMES,
    SkipCounter,
    SpeechDataset,
    clip_length,
    data_home,
    fit_length,
    read_keyed_cache,
    resample,
    trim_silence,
)

__all__ = [
    "DEFAULT_ACCENTS",
    "DEFAULT_TEST_VARIANTS",
    "DEFAULT_VARIANTS",
    "DigitsSynthConfig",
    "cache_path",
    "load_digits_synth",
]

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the processing below changes what a given config produces

DEFAULT_ACCENTS: tuple[str, ...] = (
    "en-us", "en", "en-029", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc",
)
DEFAULT_VARIANTS: tuple[str, ...] = (
    # male timbres (klatt: espeak-ng's Klatt formant synthesizer)
    "m1", "m2", "m3", "m4", "m6", "m7", "Alex", "Mario", "Michael", "iven", "paul", "klatt",
    # female timbres
    "f1", "f2", "f3", "f4", "f5", "Andrea", "Annie", "aunty", "linda", "steph", "grandma", "anika",
)
DEFAULT_TEST_VARIANTS: tuple[str, ...] = ("m6", "paul", "f5", "aunty")


@dataclass(frozen=True)
class DigitsSynthConfig:
    """What ``digits-synth`` synthesizes. Every field is part of the cache key.

    Attributes:
        accents: espeak-ng language voices (English accents; other languages read the English spelling
            with their own rules and are much less intelligible).
        variants: espeak-ng voice variants (speaker timbres), combined with every accent.
        test_variants: the variants held out as the test split (must be a subset of ``variants``).
        takes: renditions per (accent, variant, word), each with freshly drawn prosody.
        words: what is said; label ``i`` is ``words[i]``.
        rate: speaking rate range in words per minute, drawn uniformly (espeak-ng's default, 175, makes
            isolated words short: "two" lasts about 0.2 s).
        pitch: base pitch range, 0..99, drawn uniformly (default 50).
        pitch_range: pitch-range (intonation depth) range, 0..99, drawn uniformly (default 50).
        punctuation: final punctuation marks, one drawn per clip (changes the intonation contour).
        peak_range: the clip's absolute peak is scaled to a value drawn uniformly from this range.
        shift: 0 centres the word; s > 0 moves it by up to ``s / 2`` of the free space either way.
        trim_db: frames quieter than the loudest one by more than this are trimmed from both ends.
    """

    accents: tuple[str, ...] = DEFAULT_ACCENTS
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    test_variants: tuple[str, ...] = DEFAULT_TEST_VARIANTS
    takes: int = 2
    words: tuple[str, ...] = DIGIT_NAMES
    rate: tuple[int, int] = (120, 190)
    pitch: tuple[int, int] = (25, 75)
    pitch_range: tuple[int, int] = (25, 85)
    punctuation: tuple[str, ...] = (".", ",", "!")
    peak_range: tuple[float, float] = (0.5, 0.95)
    shift: float = 0.0
    trim_db: float = 40.0

    def __post_init__(self) -> None:
        # tuples, so that the config is hashable and its JSON (the cache key) does not depend on list vs tuple
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        if not self.accents or not self.variants or not self.words:
            raise ValueError("accents, variants and words must be non-empty")
        for name in ("accents", "variants", "words"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} has duplicates: {values}")
        unknown = set(self.test_variants) - set(self.variants)
        if unknown:
            raise ValueError(f"test_variants {sorted(unknown)} are not among variants {self.variants}")
        if self.takes < 1:
            raise ValueError(f"takes must be >= 1, got {self.takes}")
        for name, lo, hi in (("rate", 80, 450), ("pitch", 0, 99), ("pitch_range", 0, 99)):
            a, b = getattr(self, name)
            if not lo <= a <= b <= hi:
                raise ValueError(f"{name} must be (low, high) with {lo} <= low <= high <= {hi}, got {(a, b)}")
        a, b = self.peak_range
        if not 0 < a <= b <= 1:
            raise ValueError(f"peak_range must be (low, high) with 0 < low <= high <= 1, got {(a, b)}")
        if not 0 <= self.shift <= 1:
            raise ValueError(f"shift must be in [0, 1], got {self.shift}")
        if not self.punctuation:
            raise ValueError("punctuation must be non-empty (use ('',) for none)")
        if self.trim_db <= 0:
            raise ValueError(f"trim_db must be positive, got {self.trim_db}")

    @property
    def voices(self) -> list[str]:
        """``accent+variant`` names in build order (accent-major)."""
        return [f"{a}+{v}" for a in self.accents for v in self.variants]

    @property
    def num_clips(self) -> int:
        return len(self.accents) * len(self.variants) * len(self.words) * self.takes


@dataclass(frozen=True)
class _Clip:
    """One clip to synthesize, with its drawn parameters."""

    index: int
    voice: str
    label: int
    text: str
    rate: int
    pitch: int
    pitch_range: int
    espeak_seed: int
    peak: float
    position: float  # in [-0.5, 0.5): offset from the centre as a fraction of the free space (times shift)
    is_test: bool

    @property
    def source(self) -> str:
        return (f"espeak:{self.voice}|{self.text}|rate={self.rate}|pitch={self.pitch}"
                f"|range={self.pitch_range}|seed={self.espeak_seed}")


def _plan(cfg: DigitsSynthConfig, seed: int) -> list[_Clip]:
    """Draw every clip's parameters. Each clip's generator is seeded by (seed, voice, word, take) only."""
    clips = []
    test = set(cfg.test_variants)
    for accent in cfg.accents:
        for variant in cfg.variants:
            voice = f"{accent}+{variant}"
            for label, word in enumerate(cfg.words):
                for take in range(cfg.takes):
                    rng = np.random.default_rng(
                        [seed, zlib.crc32(voice.encode()), zlib.crc32(word.encode()), take]
                    )
                    clips.append(_Clip(
                        index=len(clips),
                        voice=voice,
                        label=label,
                        text=word + cfg.punctuation[int(rng.integers(len(cfg.punctuation)))],
                        rate=int(rng.integers(cfg.rate[0], cfg.rate[1] + 1)),
                        pitch=int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1)),
                        pitch_range=int(rng.integers(cfg.pitch_range[0], cfg.pitch_range[1] + 1)),
                        espeak_seed=int(rng.integers(1, 2**31 - 1)),
                        peak=float(rng.uniform(*cfg.peak_range)),
                        position=float(rng.uniform(-0.5, 0.5)) * cfg.shift,
                        is_test=variant in test,
                    ))
    return clips


def _render(clip: _Clip, cfg: DigitsSynthConfig, sample_rate: int, length: int) -> tuple[np.ndarray | None, bool]:
    """Synthesize and post-process one clip -> ``((length,) int16 or None if silent, was_cropped)``."""
    pcm = espeak.synthesize(clip.text, clip.voice, rate=clip.rate, pitch=clip.pitch,
                            pitch_range=clip.pitch_range, seed=clip.espeak_seed)
    wave = trim_silence(pcm.astype(np.float32) / 32768.0, espeak.NATIVE_SAMPLE_RATE, cfg.trim_db)
    if len(wave) == 0:
        return None, False
    wave = resample(wave, espeak.NATIVE_SAMPLE_RATE, sample_rate)
    peak = float(np.abs(wave).max())
    if peak < 1e-4:
        return None, False
    wave = wave * np.float32(clip.peak / peak)
    free = length - len(wave)
    offset = None if free <= 0 else free // 2 + round(clip.position * free)
    return _to_pcm16(fit_length(wave, length, offset)), free < 0


def _to_pcm16(wave: np.ndarray) -> np.ndarray:
    return np.clip(np.round(wave * 32768.0), -32768, 32767).astype(np.int16)


def _render_many(clips: Sequence[_Clip], cfg: DigitsSynthConfig, sample_rate: int, length: int):
    """Worker entry point: ``(indices, (k, length) int16 waves, ok mask, cropped mask)``."""
    waves = np.zeros((len(clips), length), dtype=np.int16)
    ok = np.zeros(len(clips), dtype=bool)
    cropped = np.zeros(len(clips), dtype=bool)
    for i, clip in enumerate(clips):
        wave, cropped[i] = _render(clip, cfg, sample_rate, length)
        if wave is not None:
            waves[i], ok[i] = wave, True
    return [c.index for c in clips], waves, ok, cropped


def _synthesize_all(clips: list[_Clip], cfg: DigitsSynthConfig, sample_rate: int, length: int,
                    workers: int, progress: bool | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render every clip -> ``((N, length) int16, (N,) ok, (N,) cropped)``; in-process or in ``workers``."""
    from tqdm.auto import tqdm

    waves = np.zeros((len(clips), length), dtype=np.int16)
    ok = np.zeros(len(clips), dtype=bool)
    cropped = np.zeros(len(clips), dtype=bool)
    bar = tqdm(total=len(clips), desc="digits-synth", unit="clip",
               disable=None if progress is None else not progress)
    todo = clips
    with bar:
        if workers > 1:
            import multiprocessing

            # one task per voice; "spawn" so that no torch / OpenMP state is forked
            chunks: dict[str, list[_Clip]] = {}
            for clip in clips:
                chunks.setdefault(clip.voice, []).append(clip)
            ctx = multiprocessing.get_context("spawn")
            try:
                with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                    futures = [pool.submit(_render_many, chunk, cfg, sample_rate, length)
                               for chunk in chunks.values()]
                    for fut in futures:
                        idx, w, k, c = fut.result()
                        waves[idx], ok[idx], cropped[idx] = w, k, c
                        bar.update(len(idx))
                todo = []
            except BrokenProcessPool as exc:
                # typically a script without an `if __name__ == "__main__":` guard, which spawned workers
                # re-run; the clips do not depend on where they are made, so finish here
                logger.warning("digits-synth: worker processes failed (%s); building in this process. "
                               "workers > 1 needs the calling script's code under "
                               "`if __name__ == \"__main__\":`", exc)
                bar.reset()
        for clip in todo:
            wave, cropped[clip.index] = _render(clip, cfg, sample_rate, length)
            if wave is not None:
                waves[clip.index], ok[clip.index] = wave, True
            bar.update()
    return waves, ok, cropped


def _cache_key(cfg: DigitsSynthConfig, sample_rate: int, clip_seconds: float, seed: int) -> tuple[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        loader_version = version("espeakng-loader")
    except PackageNotFoundError:  # pragma: no cover
        loader_version = "unknown"
    meta = {
        "format": CACHE_FORMAT,
        "espeak_ng": espeak.espeak_version(),
        "espeakng_loader": loader_version,
        "sample_rate": sample_rate,
        "clip_seconds": clip_seconds,
        "seed": seed,
        "config": dataclasses.asdict(cfg),
    }
    text = json.dumps(meta, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest(), text


def cache_path(root: str | os.PathLike | None = None, *, sample_rate: int = 16000, clip_seconds: float = 1.0,
               seed: int = 0, config: DigitsSynthConfig | None = None) -> Path:
    """Where :func:`load_digits_synth` keeps (or would keep) the clips for these parameters."""
    cfg = config or DigitsSynthConfig()
    key, _ = _cache_key(cfg, sample_rate, float(clip_seconds), seed)
    directory = Path(root) if root is not None else data_home() / "digits-synth"
    return directory / f"digits-synth-{sample_rate}hz-{key[:20]}.npz"


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (temporary file in the same directory, then rename)."""
    atomic_write(path, lambda f: np.savez(f, **arrays), durable=True)


def load_digits_synth(
    root: str | os.PathLike | None = None,
    *,
    sample_rate: int = 16000,
    clip_seconds: float = 1.0,
    split: str = "train",
    seed: int = 0,
    config: DigitsSynthConfig | None = None,
    cache: bool = True,
    workers: int = 1,
    progress: bool | None = None,
    **overrides,
) -> SpeechDataset:
    """The built-in spoken-digit dataset (see the module docstring), built on first use and cached.

    Args:
        root: cache directory (default ``$GEN_MEDIA_DATA/digits-synth``).
        sample_rate: Hz of the returned clips.
        clip_seconds: clip length.
        split: ``"train"`` (speakers not in ``test_variants``), ``"test"`` (those in it) or ``"all"``.
        seed: draws every clip's prosody and loudness (non-negative).
        config: what to synthesize (default :class:`DigitsSynthConfig`); ``**overrides`` replace its
            fields, e.g. ``variants=("m3", "f2"), test_variants=("f2",), takes=1``.
        cache: read and write the on-disk cache.
        workers: processes used to build the set (1: in this process, about 4 ms per clip; more use
            "spawn"ed processes, which need the calling script's code under ``if __name__ == "__main__":``).
            The clips are identical either way.
        progress: show a progress bar (``None``: only on a terminal).

    Returns:
        :class:`SpeechDataset` with ``waves`` ``(N, round(clip_seconds * sample_rate))`` float32 on the
        16-bit grid, ``labels`` ``(N,)`` indices into ``label_names == list(config.words)``.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"digits-synth has the splits 'train', 'test' and 'all' (test holds out the "
                         f"speakers in test_variants), got split={split!r}")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    cfg = config or DigitsSynthConfig()
    if overrides:
        names = {f.name for f in dataclasses.fields(DigitsSynthConfig)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown digits-synth option(s) {unknown}; DigitsSynthConfig fields are {sorted(names)}")
        cfg = dataclasses.replace(cfg, **overrides)
    for voice in cfg.voices:  # before any synthesis: a bad name can crash libespeak-ng
        espeak.check_voice(voice)
    length = clip_length(clip_seconds, sample_rate)
    clip_seconds = float(clip_seconds)
    key, meta = _cache_key(cfg, sample_rate, clip_seconds, seed)
    path = cache_path(root, sample_rate=sample_rate, clip_seconds=clip_seconds, seed=seed, config=cfg)

    arrays = read_keyed_cache(path, key, "digits-synth") if cache else None
    if arrays is not None:
        logger.info("digits-synth: read %d clips from %s", len(arrays["labels"]), path)
    else:
        clips = _plan(cfg, seed)
        t0 = time.perf_counter()
        waves, ok, cropped = _synthesize_all(clips, cfg, sample_rate, length, workers, progress)
        seconds = time.perf_counter() - t0
        arrays = {
            "key": np.array(key),
            "meta": np.array(meta),
            "waves": waves if ok.all() else waves[ok],  # (N, length) int16
            "labels": np.array([c.label for c in clips], dtype=np.int64)[ok],
            "is_test": np.array([c.is_test for c in clips], dtype=bool)[ok],
            "sources": np.array([c.source for c in clips])[ok],
            "silent": np.array(int((~ok).sum())),
            "cropped": np.array(int(cropped.sum())),
        }
        logger.info("digits-synth: synthesized %d clips in %.1f s (%d silent, %d longer than the clip)",
                    len(clips), seconds, int((~ok).sum()), int(cropped.sum()))
        if cache:
            _write_cache(path, arrays)
            logger.info("digits-synth: cached at %s", path)

    keep = slice(None) if split == "all" else arrays["is_test"] if split == "test" else ~arrays["is_test"]
    waves = arrays["waves"][keep].astype(np.float32)  # (N, length)
    waves *= np.float32(1 / 32768)  # exact: a power of two
    skipped = SkipCounter(silent=int(arrays["silent"]))
    if skipped["silent"]:
        logger.warning("digits-synth: %d synthesized clips were silent and left out", skipped["silent"])
    return SpeechDataset(
        name="digits-synth",
        waves=waves,
        labels=arrays["labels"][keep].astype(np.int64),
        label_names=list(cfg.words),
        sample_rate=sample_rate,
        skipped=skipped.as_dict(),
        split=split,
        sources=[str(s) for s in arrays["sources"][keep]],
    )
