"""Speech datasets for the speech recipe: one entry point, :func:`load_speech_dataset`, and a registry.

=================  ===========================================================================================
name               what, and its splits
=================  ===========================================================================================
``digits-synth``   built in (default): "zero".."nine" said by espeak-ng voices, built locally and cached
                   (:mod:`gen_media.data.digits_synth`). test = held-out speakers.
``sc09``           Speech Commands' ten digit words (WaveGAN's SC09). train / valid / test from the dataset's
                   ``validation_list.txt`` and ``testing_list.txt``.
``fsdd``           Free Spoken Digit Dataset (8 kHz). test = recordings with index 0-4, train = the rest.
``ljspeech``       LJ Speech, unlabelled, each utterance cut into consecutive clips. test = every 20th
                   utterance of ``metadata.csv`` (rows 20, 40, ...), so no utterance spans both splits.
``folder``         any directory of wav / flac / ogg files; labels from first-level sub-folder names. test =
                   every ``test_every``-th file (default 10th) of each label in sorted path order.
=================  ===========================================================================================

Every loader reads with soundfile, mixes to mono, resamples (polyphase, scipy) to ``sample_rate`` and
centre-crops or zero-pads to ``clip_seconds`` (``ljspeech`` and ``folder(segment=True)`` cut long files into
consecutive clips instead; otherwise only the middle of a long file is read). Unreadable, empty, silent (peak
below -80 dBFS) or non-finite files are skipped and counted in :attr:`SpeechDataset.skipped`, and the counts
are logged; a file that fails later (say, out of memory) is skipped as ``"unusable"`` with a warning naming
it. A root without a usable file raises ``FileNotFoundError`` (nothing found) or ``ValueError`` (nothing
usable), naming the layout that was expected.

Nothing here downloads anything: the local datasets must already be on disk, by default under
``$GEN_MEDIA_DATA/<name>`` (``~/.cache/gen_media/<name>``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .base import (
    DIGIT_NAMES,
    SILENCE_PEAK,
    SPLITS,
    SkipCounter,
    SpeechDataset,
    clip_length,
    data_home,
    fit_length,
    read_audio,
    read_audio_middle,
    resample,
    trim_silence,
)
from .digits_synth import load_digits_synth

__all__ = [
    "AUDIO_EXTENSIONS",
    "DATASETS",
    "DEFAULT_DATASET",
    "LAYOUTS",
    "get_loader",
    "load_folder",
    "load_fsdd",
    "load_ljspeech",
    "load_sc09",
    "load_speech_dataset",
]

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga")
DEFAULT_DATASET = "digits-synth"

LAYOUTS: dict[str, str] = {
    "digits-synth": "built in (synthesized with espeak-ng); root, if given, is the cache directory",
    "sc09": (
        "ROOT/SpeechCommands/speech_commands_v0.0{1,2}/<word>/*.wav with validation_list.txt and "
        "testing_list.txt (torchaudio's SPEECHCOMMANDS layout; ROOT may also be the speech_commands_v0.0x "
        "directory itself), words zero..nine; or WaveGAN's sc09 archive ROOT/{train,valid,test}/<Word>_*.wav"
    ),
    "fsdd": "ROOT/recordings/<digit>_<speaker>_<index>.wav (ROOT may also be the recordings directory)",
    "ljspeech": "ROOT/LJSpeech-1.1/metadata.csv and ROOT/LJSpeech-1.1/wavs/<id>.wav (ROOT may also be LJSpeech-1.1)",
    "folder": (
        "ROOT/<label>/**/*.{wav,flac,ogg} (labels from first-level sub-folder names) or ROOT/*.{wav,flac,ogg} "
        "(unlabelled)"
    ),
}


# --------------------------------------------------------------------------------------------------------------
# shared machinery


def _resolve_root(name: str, root: str | os.PathLike | None) -> Path:
    path = Path(root).expanduser() if root is not None else data_home() / name
    if not path.is_dir():
        hint = "" if root is not None else f" (no root given, so looked in $GEN_MEDIA_DATA/{name})"
        raise FileNotFoundError(f"{name}: dataset directory {path} does not exist{hint}; expected {LAYOUTS[name]}")
    return path


def _check_split(name: str, split: str, allowed: Sequence[str]) -> None:
    if split not in allowed:
        raise ValueError(f"{name}: split must be one of {list(allowed)}, got {split!r}")


def _list_audio(directory: Path, recursive: bool = True) -> list[Path]:
    pattern = directory.rglob("*") if recursive else directory.glob("*")
    return sorted(p for p in pattern if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())


def _load_files(
    name: str,
    root: Path,
    entries: Sequence[tuple[Path, int | None]],
    *,
    sample_rate: int,
    clip_seconds: float,
    segment: bool = False,
    trim_db: float | None = None,
    limit: int | None = None,
    seed: int = 0,
    progress: bool | None = None,
    skipped: SkipCounter | None = None,
    labelled: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, list[str], SkipCounter]:
    """Read, mix down, resample and crop / pad / segment ``entries`` = ``[(path, label or None), ...]``.

    With ``limit``, files are read in an order shuffled by ``seed`` until ``limit`` clips are collected
    (a random subset of every label, not the first labels); the clips come back in ``entries`` order.

    Returns:
        ``((N, samples) float32, (N,) int64 or None, sources, skip counts)``.
    """
    from tqdm.auto import tqdm

    length = clip_length(clip_seconds, sample_rate)
    if limit is not None and limit < 1:
        raise ValueError(f"{name}: limit must be a positive number of clips, got {limit}")
    skipped = skipped if skipped is not None else SkipCounter()
    order = np.arange(len(entries)) if limit is None else np.random.default_rng(seed).permutation(len(entries))
    waves: list[np.ndarray] = []
    labels: list[int] = []
    sources: list[str] = []
    rank: list[tuple[int, int]] = []  # (entry index, segment index) of each clip, to restore entries order
    bar = tqdm(order, desc=name, unit="file", disable=None if progress is None else not progress)
    for i in bar:
        path, label = entries[i]
        if limit is not None and len(waves) >= limit:
            break
        rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        try:
            wave = _read_wave(name, path, sample_rate, length, segment, trim_db)
        except Exception as exc:  # anything else a strange file can raise (even MemoryError): say which file
            logger.warning("%s: skipping %s: %s: %s", name, rel, type(exc).__name__, exc)
            wave = "unusable"
        if isinstance(wave, str):
            skipped[wave] += 1
            continue
        if segment:
            n_full, rest = divmod(len(wave), length)
            n_seg = n_full + (1 if rest >= length // 2 else 0)  # keep a final part of at least half a clip
            if n_seg == 0:
                n_seg = 1  # a file shorter than half a clip still gives one (padded) clip
            for k in range(n_seg):
                piece = wave[k * length : (k + 1) * length]
                waves.append(fit_length(piece, length, 0))
                labels.append(-1 if label is None else label)
                sources.append(f"{rel}#{k}")
                rank.append((int(i), k))
                if limit is not None and len(waves) >= limit:
                    break
        else:
            waves.append(fit_length(wave, length))
            labels.append(-1 if label is None else label)
            sources.append(rel)
            rank.append((int(i), 0))
    bar.close()
    if limit is not None:
        perm = sorted(range(len(rank)), key=rank.__getitem__)
        waves = [waves[j] for j in perm]
        labels = [labels[j] for j in perm]
        sources = [sources[j] for j in perm]
    stacked = np.stack(waves) if waves else np.zeros((0, length), dtype=np.float32)
    return stacked, (np.array(labels, dtype=np.int64) if labelled else None), sources, skipped


def _read_wave(name: str, path: Path, sample_rate: int, length: int, segment: bool,
               trim_db: float | None) -> np.ndarray | str:
    """One file as mono ``(samples,)`` at ``sample_rate`` (trimmed if asked), or the reason to skip it.

    Without ``segment`` or ``trim_db`` only the middle of a long file is read (what the centre crop keeps,
    plus a margin for the resampling filter), so an hours-long recording costs what a short one does.
    """
    try:
        if segment or trim_db is not None:
            wave, sr = read_audio(path)
        else:
            wave, sr = read_audio_middle(path, length / sample_rate)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / ValueError / OSError
        logger.debug("%s: cannot read %s: %s", name, path, exc)
        return "unreadable"
    if wave.size == 0:
        return "empty"
    if not np.isfinite(wave).all():
        return "non-finite"
    if float(np.abs(wave).max()) < SILENCE_PEAK:
        return "silent"
    if trim_db is not None:
        wave = trim_silence(wave, sr, trim_db)
    return resample(wave, sr, sample_rate)


def _finish(
    name: str,
    root: Path,
    split: str,
    sample_rate: int,
    label_names: list[str],
    waves: np.ndarray,
    labels: np.ndarray | None,
    sources: list[str],
    skipped: SkipCounter,
    n_files: int,
) -> SpeechDataset:
    counts = skipped.as_dict()
    if counts:
        logger.warning("%s: skipped %d of %d files under %s: %s", name, sum(counts.values()), n_files, root, counts)
    if len(waves) == 0:
        raise ValueError(
            f"{name}: no usable audio for split {split!r} under {root} ({n_files} candidate files, skipped "
            f"{counts or 'none'}); expected {LAYOUTS[name]}"
        )
    logger.info("%s: %d clips (%s split) from %s", name, len(waves), split, root)
    return SpeechDataset(name=name, waves=waves, labels=labels, label_names=label_names, sample_rate=sample_rate,
                         skipped=counts, split=split, sources=sources)


def _no_files(name: str, root: Path, what: str = "no audio files") -> FileNotFoundError:
    return FileNotFoundError(f"{name}: {what} under {root}; expected {LAYOUTS[name]}")


# --------------------------------------------------------------------------------------------------------------
# sc09


def _speech_commands_split(relpath: str, validation_pct: float = 10.0, testing_pct: float = 10.0) -> str:
    """The Speech Commands README's ``which_set``: the split of a file from a hash of its speaker id.

    It is the rule that produced validation_list.txt / testing_list.txt; used only when those are missing.
    """
    max_per_class = 2**27 - 1
    speaker = re.sub(r"_nohash_.*$", "", os.path.basename(relpath))
    h = int(hashlib.sha1(speaker.encode()).hexdigest(), 16)
    pct = (h % (max_per_class + 1)) * (100.0 / max_per_class)
    if pct < validation_pct:
        return "valid"
    if pct < validation_pct + testing_pct:
        return "test"
    return "train"


def _find_speech_commands(root: Path, version: str | None) -> tuple[str, Path] | None:
    """``("torchaudio", dir)`` for a speech_commands_v0.0x directory, ``("wavegan", dir)``, or None."""
    versions = [version] if version else ["0.02", "0.01"]
    candidates = [root]
    for v in versions:
        candidates += [root / "SpeechCommands" / f"speech_commands_v{v}", root / f"speech_commands_v{v}"]
    for c in candidates:
        if any((c / w).is_dir() for w in DIGIT_NAMES):
            return "torchaudio", c
    for c in (root, root / "sc09"):
        if any((c / s).is_dir() for s in ("train", "valid", "test")):
            return "wavegan", c
    return None


def load_sc09(
    root: str | os.PathLike | None = None,
    *,
    sample_rate: int = 16000,
    clip_seconds: float = 1.0,
    split: str = "train",
    seed: int = 0,
    version: str | None = None,
    trim_db: float | None = None,
    limit: int | None = None,
    progress: bool | None = None,
) -> SpeechDataset:
    """Speech Commands' digit words "zero".."nine" (SC09), from a local copy.

    Args:
        root: see ``LAYOUTS["sc09"]``; default ``$GEN_MEDIA_DATA/sc09``.
        split: ``"train"``, ``"valid"``, ``"test"`` (from ``validation_list.txt`` / ``testing_list.txt``; if
            they are missing, the README's speaker-hash rule that made them) or ``"all"``.
        seed: with ``limit``, shuffles which files are read (the splits are fixed by the dataset).
        version: ``"0.01"`` or ``"0.02"`` when both are present (default: the newest found).
        trim_db: trim leading / trailing silence quieter than this (dB below the peak) before centring;
            ``None`` keeps the clips as recorded.
        limit: at most this many clips, from files drawn in a ``seed``-shuffled order.

    Returns:
        ``waves`` ``(N, round(clip_seconds * sample_rate))``, ``labels`` ``(N,)`` digit values,
        ``label_names`` ``["zero", ..., "nine"]``.
    """
    _check_split("sc09", split, SPLITS)
    base = _resolve_root("sc09", root)
    found = _find_speech_commands(base, version)
    if found is None:
        raise _no_files("sc09", base, "no digit-word folders (zero..nine) nor train/valid/test folders")
    kind, directory = found
    entries: list[tuple[Path, int]] = []
    if kind == "torchaudio":
        lists = {}
        for s, fname in (("valid", "validation_list.txt"), ("test", "testing_list.txt")):
            f = directory / fname
            if f.is_file():
                lists[s] = {line.strip().replace("\\", "/") for line in f.read_text().splitlines() if line.strip()}
        if len(lists) < 2 and split != "all":
            logger.warning("sc09: %s lacks validation_list.txt / testing_list.txt; splitting by the Speech "
                           "Commands speaker-hash rule instead", directory)
        for label, word in enumerate(DIGIT_NAMES):
            for path in _list_audio(directory / word, recursive=False) if (directory / word).is_dir() else []:
                rel = f"{word}/{path.name}"
                if len(lists) == 2:
                    s = "valid" if rel in lists["valid"] else "test" if rel in lists["test"] else "train"
                else:
                    s = _speech_commands_split(rel)
                if split in ("all", s):
                    entries.append((path, label))
    else:
        index = {w: i for i, w in enumerate(DIGIT_NAMES)}
        for s in ("train", "valid", "test"):
            if split not in ("all", s) or not (directory / s).is_dir():
                continue
            for path in _list_audio(directory / s, recursive=False):
                word = path.name.split("_", 1)[0].lower()
                if word in index:
                    entries.append((path, index[word]))
    if not entries:
        raise _no_files("sc09", directory, f"no digit recordings for split {split!r}")
    waves, labels, sources, skipped = _load_files(
        "sc09", directory, entries, sample_rate=sample_rate, clip_seconds=clip_seconds, trim_db=trim_db,
        limit=limit, seed=seed, progress=progress)
    return _finish("sc09", directory, split, sample_rate, list(DIGIT_NAMES), waves, labels, sources, skipped,
                   len(entries))


# --------------------------------------------------------------------------------------------------------------
# fsdd

_FSDD_NAME = re.compile(r"^(\d)_([^_]+)_(\d+)$")


def load_fsdd(
    root: str | os.PathLike | None = None,
    *,
    sample_rate: int = 16000,
    clip_seconds: float = 1.0,
    split: str = "train",
    seed: int = 0,
    trim_db: float | None = None,
    limit: int | None = None,
    progress: bool | None = None,
) -> SpeechDataset:
    """Free Spoken Digit Dataset (``<digit>_<speaker>_<index>.wav``, 8 kHz), from a local copy.

    Args:
        root: see ``LAYOUTS["fsdd"]``; default ``$GEN_MEDIA_DATA/fsdd``.
        split: ``"test"`` (index 0-4, the dataset's own convention), ``"train"`` (index 5 and up) or ``"all"``.
        seed: with ``limit``, shuffles which files are read.
        trim_db: optional silence trimming before centring (see :func:`load_sc09`).
        limit: at most this many clips, from files drawn in a ``seed``-shuffled order.

    Returns:
        ``waves`` ``(N, round(clip_seconds * sample_rate))``, ``labels`` ``(N,)`` digit values. Files whose
        name does not follow the pattern are counted in ``skipped["unrecognized-name"]``.
    """
    _check_split("fsdd", split, ("train", "test", "all"))
    base = _resolve_root("fsdd", root)
    directory = base / "recordings" if (base / "recordings").is_dir() else base
    files = _list_audio(directory, recursive=False)
    if not files:
        raise _no_files("fsdd", base)
    skipped = SkipCounter()
    entries: list[tuple[Path, int]] = []
    for path in files:
        m = _FSDD_NAME.match(path.stem)
        if m is None:
            skipped["unrecognized-name"] += 1
            continue
        s = "test" if int(m.group(3)) <= 4 else "train"
        if split in ("all", s):
            entries.append((path, int(m.group(1))))
    waves, labels, sources, skipped = _load_files(
        "fsdd", directory, entries, sample_rate=sample_rate, clip_seconds=clip_seconds, trim_db=trim_db,
        limit=limit, seed=seed, progress=progress, skipped=skipped)
    return _finish("fsdd", directory, split, sample_rate, list(DIGIT_NAMES), waves, labels, sources, skipped,
                   len(files))


# --------------------------------------------------------------------------------------------------------------
# ljspeech


def load_ljspeech(
    root: str | os.PathLike | None = None,
    *,
    sample_rate: int = 16000,
    clip_seconds: float = 1.0,
    split: str = "train",
    seed: int = 0,
    test_every: int = 20,
    trim_db: float | None = None,
    limit: int | None = None,
    progress: bool | None = None,
) -> SpeechDataset:
    """LJ Speech, unlabelled, every utterance cut into consecutive ``clip_seconds`` clips.

    A final part of at least half a clip is zero-padded and kept, a shorter one dropped. The whole corpus
    (24 h) at 16 kHz is about 5.5 GB of float32: use ``limit`` for a part.

    Args:
        root: see ``LAYOUTS["ljspeech"]``; default ``$GEN_MEDIA_DATA/ljspeech``.
        split: ``"test"``: rows ``test_every``, ``2 * test_every``, ... of metadata.csv (1-based);
            ``"train"``: the others; ``"all"``.
        seed: with ``limit``, shuffles which files are read.
        trim_db: optional trimming of each utterance's leading / trailing silence before cutting.
        limit: at most this many clips, from files drawn in a ``seed``-shuffled order.

    Returns:
        ``waves`` ``(N, round(clip_seconds * sample_rate))``, ``labels`` None, ``sources`` ``"wavs/<id>.wav#k"``.
    """
    _check_split("ljspeech", split, ("train", "test", "all"))
    if test_every < 2:
        raise ValueError(f"ljspeech: test_every must be >= 2, got {test_every}")
    base = _resolve_root("ljspeech", root)
    directory = base / "LJSpeech-1.1" if (base / "LJSpeech-1.1" / "metadata.csv").is_file() else base
    meta = directory / "metadata.csv"
    if not meta.is_file():
        raise _no_files("ljspeech", base, "no metadata.csv")
    ids = [line.split("|", 1)[0].strip() for line in meta.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not ids:
        raise _no_files("ljspeech", base, "an empty metadata.csv")
    skipped = SkipCounter()
    entries: list[tuple[Path, None]] = []
    for row, utt in enumerate(ids, start=1):
        s = "test" if row % test_every == 0 else "train"
        if split not in ("all", s):
            continue
        path = directory / "wavs" / f"{utt}.wav"
        if path.is_file():
            entries.append((path, None))
        else:
            skipped["missing"] += 1
    waves, labels, sources, skipped = _load_files(
        "ljspeech", directory, entries, sample_rate=sample_rate, clip_seconds=clip_seconds, segment=True,
        trim_db=trim_db, limit=limit, seed=seed, progress=progress, skipped=skipped, labelled=False)
    return _finish("ljspeech", directory, split, sample_rate, [], waves, None, sources, skipped, len(ids))


# --------------------------------------------------------------------------------------------------------------
# folder


def load_folder(
    root: str | os.PathLike | None = None,
    *,
    sample_rate: int = 16000,
    clip_seconds: float = 1.0,
    split: str = "train",
    seed: int = 0,
    test_every: int = 10,
    segment: bool = False,
    trim_db: float | None = None,
    limit: int | None = None,
    progress: bool | None = None,
) -> SpeechDataset:
    """Any directory of audio files (wav / flac / ogg, searched recursively).

    Labels: if any file sits in a sub-folder, the label of a file is its first-level sub-folder name
    (``label_names`` sorted) and files directly in ``root`` are skipped as ``"unlabelled"``; if all files sit
    directly in ``root``, the dataset is unlabelled.

    Args:
        root: the directory; default ``$GEN_MEDIA_DATA/folder``.
        split: ``"test"``: every ``test_every``-th file of each label (sorted by path, 1-based, so the
            10th, 20th, ...); ``"train"``: the others; ``"all"``.
        seed: with ``limit``, shuffles which files are read.
        segment: cut long files into consecutive clips (as ``ljspeech``) instead of centre-cropping.
        trim_db: optional silence trimming before centring / cutting.
        limit: at most this many clips, from files drawn in a ``seed``-shuffled order.

    Returns:
        ``waves`` ``(N, round(clip_seconds * sample_rate))``, ``labels`` ``(N,)`` or None.
    """
    _check_split("folder", split, ("train", "test", "all"))
    if test_every < 2:
        raise ValueError(f"folder: test_every must be >= 2, got {test_every}")
    base = _resolve_root("folder", root)
    files = _list_audio(base)
    if not files:
        raise _no_files("folder", base)
    skipped = SkipCounter()
    nested = [p for p in files if len(p.relative_to(base).parts) > 1]
    if nested:
        label_names = sorted({p.relative_to(base).parts[0] for p in nested})
        skipped["unlabelled"] += len(files) - len(nested)
        groups: dict[int, list[Path]] = {}
        for p in nested:
            groups.setdefault(label_names.index(p.relative_to(base).parts[0]), []).append(p)
    else:
        label_names = []
        groups = {-1: files}
    entries: list[tuple[Path, int | None]] = []
    for label, paths in sorted(groups.items()):
        for i, p in enumerate(paths, start=1):
            s = "test" if i % test_every == 0 else "train"
            if split in ("all", s):
                entries.append((p, None if label < 0 else label))
    entries.sort(key=lambda e: str(e[0]))
    waves, labels, sources, skipped = _load_files(
        "folder", base, entries, sample_rate=sample_rate, clip_seconds=clip_seconds, segment=segment,
        trim_db=trim_db, limit=limit, seed=seed, progress=progress, skipped=skipped,
        labelled=bool(label_names))
    return _finish("folder", base, split, sample_rate, label_names, waves, labels, sources, skipped, len(files))


# --------------------------------------------------------------------------------------------------------------
# registry and entry point

Loader = Callable[..., SpeechDataset]

DATASETS: dict[str, Loader] = {
    "digits-synth": load_digits_synth,
    "sc09": load_sc09,
    "fsdd": load_fsdd,
    "ljspeech": load_ljspeech,
    "folder": load_folder,
}


def get_loader(name: str) -> Loader:
    """The loader registered as ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown speech dataset {name!r}; known: {sorted(DATASETS)}") from None


def load_speech_dataset(
    name: str = DEFAULT_DATASET,
    root: str | os.PathLike | None = None,
    *,
    sample_rate: int = 16000,
    clip_seconds: float = 1.0,
    split: str = "train",
    seed: int = 0,
    **options,
) -> SpeechDataset:
    """Load a speech dataset by name as fixed-length mono clips.

    Args:
        name: a key of :data:`DATASETS` (``digits-synth``, ``sc09``, ``fsdd``, ``ljspeech``, ``folder``).
        root: where the local copy is (see :data:`LAYOUTS`); default ``$GEN_MEDIA_DATA/<name>``. For
            ``digits-synth``, the cache directory.
        sample_rate: Hz of the returned clips (every source is resampled to it).
        clip_seconds: clip length in seconds.
        split: ``"train"``, ``"test"``, ``"all"``, and ``"valid"`` for ``sc09``.
        seed: the ``digits-synth`` generator seed; for the file datasets (whose splits are fixed), which
            files a ``limit`` keeps.
        **options: the loader's own keyword arguments (e.g. ``limit``, ``trim_db``, ``progress``; for
            ``digits-synth`` ``workers``, ``cache`` and :class:`DigitsSynthConfig` fields).

    Returns:
        :class:`SpeechDataset`: ``waves`` ``(N, round(clip_seconds * sample_rate))`` float32, ``labels``
        ``(N,)`` int64 or None, ``label_names``, ``sample_rate``, ``skipped`` (reason -> count).
    """
    loader = get_loader(name)
    return loader(root, sample_rate=sample_rate, clip_seconds=clip_seconds, split=split, seed=seed, **options)
