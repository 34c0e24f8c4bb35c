"""A small ctypes binding to libespeak-ng, as shipped by the ``espeakng-loader`` package.

Only what the built-in spoken-digit dataset needs: synthesize one short text with a given voice, rate,
pitch and pitch range, and get the samples back as 16-bit PCM at espeak-ng's native rate
(:data:`NATIVE_SAMPLE_RATE`, 22050 Hz).

Why every call loads a fresh copy of the library
-------------------------------------------------
libespeak-ng keeps synthesis state in static variables that ``espeak_Terminate`` does not reset (the pitch
"flutter" phase, the automatic gain control, a cycle counter, the echo buffer). The same call therefore
gives slightly different samples depending on what was synthesized before it in the process, and even
after a terminate / initialize cycle. To make every clip a pure function of its arguments,
:func:`synthesize` copies the shared object to a private temporary file, ``dlopen``\\ s it (a distinct path
is a distinct instance with zeroed statics), synthesizes, terminates and ``dlclose``\\ s it. This costs
about 3 ms per call. The random generators the synthesizer uses for breath and Klatt noise
(espeak-ng's own and libc's ``rand``) are seeded from the ``seed`` argument before each call.

Voice names are checked against the installed data before they reach the library: libespeak-ng may
crash the process (segmentation fault) on a name that is not a language, e.g. ``"f1"`` instead of
``"en+f1"``.
"""

from __future__ import annotations

import _ctypes
import atexit
import ctypes
import functools
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

__all__ = [
    "NATIVE_SAMPLE_RATE",
    "EspeakError",
    "check_voice",
    "data_path",
    "espeak_version",
    "library_path",
    "list_languages",
    "list_variants",
    "synthesize",
]

NATIVE_SAMPLE_RATE = 22050  # espeak-ng's output rate (Hz); checked against espeak_Initialize's return value

# espeak_AUDIO_OUTPUT: AUDIO_OUTPUT_SYNCHRONOUS = retrieval mode, espeak_Synth returns when the text is done
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error code instead of calling exit() on a data error
# espeak_PARAMETER
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_POS_CHARACTER = 1
_CHARS_UTF8 = 1

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakError(RuntimeError):
    """libespeak-ng is missing, failed to initialize, or rejected a call."""


def _loader():
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise EspeakError(
            "the built-in spoken-digit dataset needs the 'espeakng-loader' package "
            "(pip install espeakng-loader), which ships libespeak-ng and its voice data"
        ) from exc
    return espeakng_loader


def library_path() -> Path:
    """Path of the libespeak-ng shared object shipped by ``espeakng-loader``."""
    path = Path(_loader().get_library_path())
    if not path.is_file():
        raise EspeakError(f"libespeak-ng not found at {path} (reinstall espeakng-loader)")
    return path


def data_path() -> Path:
    """Path of the ``espeak-ng-data`` directory shipped by ``espeakng-loader``."""
    try:
        return Path(_loader().get_data_path())
    except RuntimeError as exc:
        raise EspeakError(str(exc)) from exc


@functools.cache
def list_languages() -> tuple[str, ...]:
    """Language voice identifiers available in the data directory, lower case (e.g. ``"en-us"``)."""
    lang_dir = data_path() / "lang"
    return tuple(sorted({p.name.lower() for p in lang_dir.rglob("*") if p.is_file()}))


@functools.cache
def list_variants() -> tuple[str, ...]:
    """Voice variant names (the part after ``+``, e.g. ``"m3"``, ``"f2"``, ``"klatt"``), as spelled on disk."""
    return tuple(sorted(p.name for p in (data_path() / "voices" / "!v").iterdir() if p.is_file()))


def check_voice(voice: str) -> None:
    """Raise ``ValueError`` unless ``voice`` is ``"<language>"`` or ``"<language>+<variant>"`` known to espeak-ng."""
    language, _, variant = voice.partition("+")
    if language.lower() not in list_languages():
        raise ValueError(
            f"unknown espeak-ng language {language!r} in voice {voice!r}; "
            f"English ones are {[v for v in list_languages() if v.startswith('en')]}"
        )
    if variant and variant not in list_variants():
        raise ValueError(
            f"unknown espeak-ng voice variant {variant!r} in voice {voice!r}; known: {list(list_variants())}"
        )


_lock = threading.Lock()
_chunks: list[np.ndarray] = []
_tmp_dir: str | None = None  # where the private copies of the library are made
_copies = 0


def _collect(wav, n: int, _events) -> int:
    if n > 0 and wav:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
    return 0  # 0: continue synthesis


_callback = _CALLBACK(_collect)  # module-level: must outlive every library instance that holds it


def _cleanup_tmp_dir() -> None:
    if _tmp_dir is not None:
        shutil.rmtree(_tmp_dir, ignore_errors=True)


def _load_copy(directory: str) -> ctypes.CDLL:
    global _copies
    _copies += 1
    copy = os.path.join(directory, f"libespeak-ng-{os.getpid()}-{_copies}.so")
    shutil.copyfile(library_path(), copy)
    try:
        return ctypes.CDLL(copy, mode=os.RTLD_LOCAL)
    finally:
        os.unlink(copy)  # the mapping keeps the file alive until dlclose


def _fresh_library() -> ctypes.CDLL:
    """dlopen a private copy of libespeak-ng (fresh static state) and initialize it. Caller holds _lock."""
    global _tmp_dir
    if _tmp_dir is None:
        # the system temporary directory first; if it is mounted noexec, dlopen fails there and the copy
        # goes next to the data cache instead
        from .base import data_home

        errors = []
        for parent in (None, data_home() / "tmp"):
            if parent is not None:
                parent.mkdir(parents=True, exist_ok=True)
            candidate = tempfile.mkdtemp(prefix="gen_media_espeak_", dir=parent)
            try:
                lib = _load_copy(candidate)
            except OSError as exc:
                shutil.rmtree(candidate, ignore_errors=True)
                errors.append(f"{candidate}: {exc}")
                continue
            _tmp_dir = candidate
            atexit.register(_cleanup_tmp_dir)
            break
        else:
            raise EspeakError("cannot load a private copy of libespeak-ng: " + "; ".join(errors))
    else:
        lib = _load_copy(_tmp_dir)
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
        ctypes.c_void_p, ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path()).encode(), _INITIALIZE_DONT_EXIT
    )
    if rate != NATIVE_SAMPLE_RATE:
        _close(lib)
        raise EspeakError(
            f"espeak_Initialize returned {rate}, expected the sample rate {NATIVE_SAMPLE_RATE} "
            f"(data path {data_path()})"
        )
    lib.espeak_SetSynthCallback(_callback)
    return lib


def _close(lib: ctypes.CDLL) -> None:
    lib.espeak_Terminate()
    _ctypes.dlclose(lib._handle)


@functools.cache
def espeak_version() -> str:
    """libespeak-ng's version string, e.g. ``"1.52.0"`` (part of the dataset cache key)."""
    with _lock:
        lib = _fresh_library()
        try:
            return lib.espeak_Info(None).decode()
        finally:
            _close(lib)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None)


def synthesize(
    text: str,
    voice: str = "en-us",
    *,
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    seed: int = 0,
) -> np.ndarray:
    """Speak ``text`` with espeak-ng and return the samples.

    Args:
        text: what to say (UTF-8; punctuation shapes the intonation).
        voice: ``"<language>"`` or ``"<language>+<variant>"``, e.g. ``"en-us+f3"`` (see :func:`check_voice`).
        rate: speaking rate in words per minute (espeak-ng accepts 80..450; default 175).
        pitch: base pitch, 0..99 (default 50).
        pitch_range: pitch range, 0..99 (0 is monotone; default 50).
        seed: seeds the synthesizer's noise generators.

    Returns:
        ``(samples,)`` int16 at :data:`NATIVE_SAMPLE_RATE` Hz. A pure function of the arguments (see the
        module docstring).
    """
    check_voice(voice)
    for name, value, lo, hi in (("rate", rate, 80, 450), ("pitch", pitch, 0, 99),
                                ("pitch_range", pitch_range, 0, 99)):
        if not lo <= int(value) <= hi:
            raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    data = text.encode("utf-8") + b"\0"
    with _lock:
        lib = _fresh_library()
        try:
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakError(f"espeak_SetVoiceByName({voice!r}) failed")
            for param, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range), (_VOLUME, 100)):
                if lib.espeak_SetParameter(param, int(value), 0) != 0:
                    raise EspeakError(f"espeak_SetParameter({param}, {value}) failed")
            seed = int(seed) & 0x7FFFFFFF
            lib.espeak_ng_SetRandSeed(seed)
            _libc().srand(seed)
            _chunks.clear()
            err = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if err != 0:
                raise EspeakError(f"espeak_Synth({text!r}) with voice {voice!r} returned error {err}")
            out = np.concatenate(_chunks) if _chunks else np.zeros(0, dtype=np.int16)
            _chunks.clear()
        finally:
            _close(lib)
    return out.astype(np.int16, copy=False)
