"""Typed dataclass configs: TOML files, ``--set key=value`` overrides, dict round trips.

A config is a tree of ``@dataclass`` classes whose fields all carry a type annotation and (usually) a default,
in the style of nanoGPT::

    @dataclass
    class TrainConfig:
        steps: int = 1000
        lr: float = 3e-4
        backend: Literal["torch", "numba"] = "torch"

    @dataclass
    class SpeechConfig:
        seed: int = 0
        train: TrainConfig = field(default_factory=TrainConfig)

    cfg = load_config(SpeechConfig, "recipes/speech_digits.toml", ["train.steps=10"])

Every way into a config goes through one checker (:func:`from_dict`), so a TOML file, a checkpoint's dict
and a command-line override are held to the same rules:

- unknown keys are errors that name the key, the valid keys and the closest match;
- values are checked against the annotation: ``int`` (not bool, not float), ``float`` (ints accepted, stored
  as float), ``bool``, ``str``, ``pathlib.Path`` (from str), ``X | None``, ``Literal[...]`` (the message lists
  the allowed values), ``tuple[X, ...]``, ``tuple[X, Y]``, ``list[X]``, ``dict[str, X]``, nested dataclasses
  and ``Any``;
- TOML has no null: a key left out takes its default, and the string ``"none"`` means None for an optional
  field whose other types are not strings (``int | None``).

Errors are :class:`ConfigError` (a ``ValueError``) whose message names the dotted key, what was expected and
what came, e.g. ``train.steps: expected int, got 'ten' (str)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import re
import tomllib
import types
import typing
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from gen_media.files import atomic_write_text

__all__ = [
    "ConfigError",
    "add_common_args",
    "apply_overrides",
    "config_from_args",
    "dump_toml",
    "from_dict",
    "load_config",
    "package_version",
    "parse_override_value",
    "to_dict",
    "to_toml",
]

T = TypeVar("T")

_MISSING = object()


class ConfigError(ValueError):
    """A config value, key or file that does not fit the config's dataclasses."""


# --------------------------------------------------------------------------------------------- type helpers


def _check_dataclass_type(cls: Any) -> None:
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"expected a dataclass type, got {cls!r}")


def _hints(cls: type) -> dict[str, Any]:
    """Resolved annotations of a dataclass (``from __future__ import annotations`` strings included)."""
    try:
        return typing.get_type_hints(cls)
    except Exception as e:  # a name the annotation uses is not importable from the class's module
        raise TypeError(f"cannot resolve the type annotations of {cls.__qualname__}: {e}") from e


def _init_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init]


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _type_name(tp: Any) -> str:
    """A short readable name for an annotation: ``int``, ``int | None``, ``one of 'a', 'b'``."""
    if tp is type(None):
        return "None"
    if tp is Any:
        return "any value"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if _is_union(tp):
        return " | ".join(_type_name(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"tuple[{_type_name(args[0])}, ...] (a list)"
        return f"tuple[{', '.join(_type_name(a) for a in args)}] (a list of {len(args)})"
    if origin is list:
        return f"list[{_type_name(args[0])}]" if args else "list"
    if origin is dict:
        return f"dict[{', '.join(_type_name(a) for a in args)}] (a table)" if args else "dict (a table)"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return f"a table of {tp.__qualname__} keys"
    return getattr(tp, "__name__", repr(tp))


def _got(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _join(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def _accepts_str(tp: Any) -> bool:
    """Whether some string is a valid value of ``tp`` (then ``"none"`` is not read as None)."""
    if tp is str or tp is Path or tp is Any:
        return True
    if typing.get_origin(tp) is Literal:
        return any(isinstance(a, str) for a in typing.get_args(tp))
    if _is_union(tp):
        return any(_accepts_str(a) for a in typing.get_args(tp))
    return False


def _is_optional(tp: Any) -> bool:
    return tp is Any or (_is_union(tp) and type(None) in typing.get_args(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp`` and return it in canonical form (or raise ConfigError)."""
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected None, got {_got(value)}")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    if _is_union(tp):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() == "none" and type(None) in args and not _accepts_str(tp):
            return None  # TOML has no null: "none" stands for it where a string cannot be meant
        if isinstance(value, Mapping):  # a table for an optional section: report its own errors
            tables = [a for a in args if isinstance(a, type) and dataclasses.is_dataclass(a)]
            if len(tables) == 1:
                return _from_dict(tables[0], value, where)
        for arm in args:
            if arm is type(None):
                continue
            try:
                return _coerce(value, arm, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {_got(value)}")

    if origin is Literal:
        for allowed in args:
            if type(value) is type(allowed) and value == allowed:
                return allowed
        raise ConfigError(f"{where}: expected one of {', '.join(repr(a) for a in args)}, got {_got(value)}")

    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected bool (true or false), got {_got(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected int, got {_got(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected float, got {_got(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected str, got {_got(value)}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{where}: expected a path (str), got {_got(value)}")

    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {_got(value)}")
        if origin is list:
            item = args[0] if args else Any
            return [_coerce(v, item, _join(where, i)) for i, v in enumerate(value)]
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            item = args[0] if args else Any
            return tuple(_coerce(v, item, _join(where, i)) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {len(value)} items: {_got(value)}")
        return tuple(_coerce(v, a, _join(where, i)) for i, (v, a) in enumerate(zip(value, args, strict=True)))

    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {_got(value)}")
        ktp, vtp = args if args else (Any, Any)
        return {
            _coerce(k, ktp, f"{where} key"): _coerce(v, vtp, _join(where, str(k))) for k, v in value.items()
        }

    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return _from_dict(tp, value, where)
        raise ConfigError(f"{where}: expected {_type_name(tp)} ([{where}] section), got {_got(value)}")

    # Any other class (rare in a config): accept instances as they are.
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {_got(value)}")
    raise TypeError(f"{where}: unsupported config annotation {tp!r}")


def _unknown_key_error(key: str, valid: Sequence[str], where: str, source: str = "") -> ConfigError:
    full = _join(where, key)
    section = f"[{where}]" if where else "the top level"
    near = difflib.get_close_matches(key, valid, n=1)
    hint = f"; did you mean '{_join(where, near[0])}'?" if near else ""
    src = f" in {source}" if source else ""
    return ConfigError(
        f"unknown config key '{full}'{src}; valid keys in {section}: {', '.join(valid) or '(none)'}{hint}"
    )


def _from_dict(cls: type[T], d: Mapping[str, Any], where: str, source: str = "") -> T:
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where or 'config'}: expected {_type_name(cls)}, got {_got(d)}")
    hints = _hints(cls)
    fields = _init_fields(cls)
    names = [f.name for f in fields]
    for key in d:
        if key not in names:
            raise _unknown_key_error(str(key), names, where, source)
    kwargs: dict[str, Any] = {}
    for f in fields:
        if f.name in d:
            kwargs[f.name] = _coerce(d[f.name], hints[f.name], _join(where, f.name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(
                f"missing config key '{_join(where, f.name)}' (expected {_type_name(hints[f.name])})"
            )
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:  # a __post_init__ check of the recipe's own
        raise ConfigError(f"{where or cls.__qualname__}: {e}") from e


# --------------------------------------------------------------------------------------------- public API


def from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
    """Build config ``cls`` from a (nested) dict, checking every key and value; missing keys take defaults."""
    _check_dataclass_type(cls)
    return _from_dict(cls, d, "")


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain nested dicts (tuples stay tuples, paths become str): ``from_dict`` inverts it."""
    if not (dataclasses.is_dataclass(cfg) and not isinstance(cfg, type)):
        raise TypeError(f"expected a dataclass instance, got {_got(cfg)}")
    return {f.name: _plain(getattr(cfg, f.name)) for f in _init_fields(type(cfg))}


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return to_dict(v)
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    return v


def load_config(cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = ()) -> T:
    """Defaults of ``cls``, updated by the TOML file at ``path`` (if given), then by ``key=value``
    overrides."""
    _check_dataclass_type(cls)
    if path is None:
        cfg = cls()
    else:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path} is not valid TOML: {e}") from e
        cfg = _from_dict(cls, data, "", source=str(path))
    return apply_overrides(cfg, overrides)


def _field_type_at(cls: type, parts: list[str]) -> Any:
    tp: Any = cls
    where = ""
    for i, part in enumerate(parts):
        if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
            raise ConfigError(
                f"'{where}' is a value ({_type_name(tp)}), not a section: cannot set '{where}.{part}'"
            )
        names = [f.name for f in _init_fields(tp)]
        if part not in names:
            raise _unknown_key_error(part, names, where)
        tp = _hints(tp)[part]
        where = _join(where, part)
        if _is_union(tp):  # "model.x" inside an optional section: walk into its dataclass arm
            arms = [a for a in typing.get_args(tp) if isinstance(a, type) and dataclasses.is_dataclass(a)]
            if len(arms) == 1 and i < len(parts) - 1:
                tp = arms[0]
    return tp


def parse_override_value(raw: str, tp: Any, where: str = "value") -> Any:
    """Parse the text after ``=`` for a field annotated ``tp``.

    The text is read as a TOML value (``10``, ``3e-4``, ``true``, ``"s"``, ``[1, 2]``, ``{a = 1}``); text that
    is not TOML (``numba``, ``/data/x``) is taken as a string; ``none`` means None for optional fields;
    ``1,2,3`` is a list for tuple/list fields. The result is then checked against ``tp``.
    """
    s = raw.strip()
    if s.lower() in ("none", "null") and _is_optional(tp):
        return None
    try:
        value: Any = tomllib.loads(f"v = {s}")["v"]
        parsed_as_toml = True
    except tomllib.TOMLDecodeError:
        value, parsed_as_toml = s, False
    origin = typing.get_origin(tp)
    if not parsed_as_toml and origin in (tuple, list) and s:
        items = [x.strip() for x in s.split(",")]
        if all(items):  # 1,2,3 -> [1, 2, 3]
            value = []
            for x in items:
                try:
                    value.append(tomllib.loads(f"v = {x}")["v"])
                except tomllib.TOMLDecodeError:
                    value.append(x)
    if not parsed_as_toml and s.lower() in ("true", "false") and not _accepts_str(tp):
        value = s.lower() == "true"
    try:
        return _coerce(value, tp, where)
    except ConfigError:
        if parsed_as_toml and not isinstance(value, str) and _accepts_str(tp):
            try:  # name=123 for a str field: the text itself
                return _coerce(s, tp, where)
            except ConfigError:
                pass
        raise


def apply_overrides(cfg: T, overrides: Iterable[str]) -> T:
    """A new config with ``"section.key=value"`` overrides applied (checked like a TOML file).

    ``cfg`` is left unchanged.

    Example: ``apply_overrides(cfg, ["train.steps=10", "model.backend=numba", "data.root=/x",
    "train.clip=none"])``.
    """
    if isinstance(overrides, str):
        raise TypeError("overrides must be a list of 'key=value' strings, not one string")
    overrides = list(overrides)
    if not overrides:
        return cfg
    cls = type(cfg)
    d = to_dict(cfg)
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value, e.g. train.steps=100")
        key, raw = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if not key or not all(parts):
            raise ConfigError(f"override {item!r}: '{key}' is not a dotted key like train.steps")
        tp = _field_type_at(cls, parts)
        try:
            value = parse_override_value(raw, tp, key)
        except ConfigError as e:
            raise ConfigError(f"--set {item}: {e}") from None
        node = d
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}  # an optional section that was None
            node = node[part]
        node[parts[-1]] = _plain(value)
    return _from_dict(cls, d, "")


# --------------------------------------------------------------------------------------------- TOML writing

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(k: Any) -> str:
    k = str(k)
    return k if _BARE_KEY.match(k) else json.dumps(k, ensure_ascii=False)


def _toml_value(v: Any, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x, _join(where, i)) for i, x in enumerate(v)) + "]"
    if isinstance(v, Mapping):
        return (
            "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x, _join(where, k))}" for k, x in v.items()) + "}"
        )
    if v is None:
        raise ConfigError(f"{where}: None inside a list or table cannot be written as TOML")
    raise ConfigError(f"{where}: cannot write {_got(v)} as TOML")


def _field_defaults(cls: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        return out
    for f in _init_fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = _MISSING  # a factory default (a section): never None
    return out


def _write_table(lines: list[str], d: Mapping[str, Any], cls: Any, prefix: str) -> None:
    hints = _hints(cls) if isinstance(cls, type) and dataclasses.is_dataclass(cls) else {}
    defaults = _field_defaults(cls)
    sections = []
    for k, v in d.items():
        where = _join(prefix, k)
        if isinstance(v, Mapping):
            sections.append((k, v))
        elif v is None:
            tp = hints.get(k, Any)
            if k in defaults and defaults[k] is None:
                lines.append(
                    f"# {_toml_key(k)} = none  (TOML has no null: left out, the default None applies)"
                )
            elif not _accepts_str(tp):
                lines.append(f'{_toml_key(k)} = "none"')
            else:
                warnings.warn(
                    f"{where} is None but its default is not, and TOML cannot say None for a string field: "
                    f"loading this file gives the default {defaults.get(k)!r}",
                    stacklevel=3,
                )
                lines.append(f"# {_toml_key(k)} = none  (not representable in TOML; the default applies)")
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v, where)}")
    for k, v in sections:
        where = _join(prefix, k)
        sub = hints.get(k)
        if sub is not None and _is_union(sub):
            arms = [a for a in typing.get_args(sub) if isinstance(a, type) and dataclasses.is_dataclass(a)]
            sub = arms[0] if arms else None
        lines.append("")
        lines.append(f"[{'.'.join(_toml_key(p) for p in where.split('.'))}]")
        _write_table(lines, v, sub, where)


def to_toml(cfg: Any, header: str | None = None) -> str:
    """The config as TOML text that :func:`load_config` reads back to an equal config."""
    lines: list[str] = []
    if header:
        lines += [f"# {line}" if line else "#" for line in header.splitlines()]
        lines.append("")
    _write_table(lines, to_dict(cfg), type(cfg), "")
    while lines and lines[0] == "":
        lines.pop(0)
    return "\n".join(lines) + "\n"


def dump_toml(cfg: Any, path: str | Path, header: str | None = None) -> Path:
    """Write the resolved config to ``path`` as TOML (readable again by :func:`load_config`); returns
    the path."""
    path = Path(path)
    if header is None:
        header = (
            f"Resolved {type(cfg).__qualname__} written by gen_media {package_version()}.\n"
            "Rerun with: --config this_file (any --set overrides are already applied)."
        )
    return atomic_write_text(path, to_toml(cfg, header))


def package_version() -> str:
    """gen_media's version (``gen_media.__version__``, else the installed distribution's, else "unknown")."""
    try:
        from gen_media import __version__

        return str(__version__)
    except ImportError:  # e.g. an editable install made before gen_media/__init__.py existed
        try:
            from importlib.metadata import version

            return version("gen_media")
        except Exception:
            return "unknown"


# --------------------------------------------------------------------------------------------- CLI


def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options every recipe command shares:
    ``--config FILE --out DIR --set KEY=VALUE ... --resume``."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML config (default: the recipe's own in recipes/; with --resume, the run's config.toml)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="run directory (config.toml, metrics.jsonl, checkpoints, samples)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.steps=100 --set model.backend=numba "
        "(repeatable; 'none' for optional values)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last.pt (with its saved config.toml unless "
        "--config is given)",
    )
    return parser


def config_from_args(cls: type[T], args: argparse.Namespace, default: Path | None = None) -> T:
    """The config for parsed :func:`add_common_args` options.

    The base is ``--config``; without it, with ``--resume``, the run's own ``OUT/config.toml`` (so
    ``--resume --out runs/x --set train.steps=2000`` extends a run); else ``default`` (a recipe's TOML) where
    that file exists; else the class defaults. Then the ``--set`` overrides.
    """
    path = getattr(args, "config", None)
    out = getattr(args, "out", None)
    if path is None and getattr(args, "resume", False) and out is not None:
        saved = Path(out) / "config.toml"
        if saved.is_file():
            path = saved
    if path is None and default is not None and default.is_file():
        path = default
    return load_config(cls, path, getattr(args, "overrides", None) or ())
