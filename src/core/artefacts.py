"""Reading what one stage leaves for another, checked: any damage is one DataError naming the file and its fix.

A stage's input written by an earlier stage can be truncated, overwritten, edited by hand or
left by an older version of the code. The readers of each kind of artefact (src/data/prepared.py,
src/models/io.py, src/explain/results.py, src/explain/cam_results.py, src/report/inputs.py)
describe what they need -- arrays by dtype and shape, JSON documents by a small schema -- and
read through ``read_npz`` / ``read_json``, so a damaged file stops the stage before it does any
work, with ``<file>: <what is wrong>; run `<the command that rebuilds it>```.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.core.errors import DataError

MAX_DETAIL = 160  # characters of a parser's own message kept in the one-line error


def damaged(path: str | Path, problem: str, rebuild: str) -> DataError:
    """The error for an artefact ``path`` that is missing or wrong: one line, ending with the command to rebuild it."""
    return DataError(f"{path}: {problem}; run `{rebuild}`")


def describe(exc: BaseException) -> str:
    """A parser's exception as one short line: its type and message."""
    text = " ".join(str(exc).split()) or "no detail"
    if len(text) > MAX_DETAIL:
        text = text[:MAX_DETAIL] + "..."
    return f"{type(exc).__name__}: {text}"


def unreadable(path: str | Path, exc: BaseException, what: str, rebuild: str) -> DataError:
    """``damaged`` for a file whose parser failed: missing, or not a readable ``what``."""
    if isinstance(exc, FileNotFoundError):
        return damaged(path, "missing", rebuild)
    return damaged(path, f"not a readable {what} ({describe(exc)})", rebuild)


@dataclass(frozen=True)
class ArraySpec:
    """An array an artefact must hold: its dtype (a numpy type or abstract type such as ``np.integer``) and shape
    (``None`` for a dimension of any length)."""

    dtype: type
    shape: tuple[int | None, ...]

    def problem(self, array: np.ndarray) -> str | None:
        if not np.issubdtype(array.dtype, self.dtype):
            return f"has dtype {array.dtype}, expected {self.dtype.__name__}"
        if array.ndim != len(self.shape) or any(want is not None and got != want
                                                for got, want in zip(array.shape, self.shape)):
            wanted = "(" + ", ".join("N" if n is None else str(n) for n in self.shape) + ")"
            return f"has shape {array.shape}, expected {wanted}"
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            return "holds NaN or infinite values"
        return None


def read_npz(path: str | Path, what: str, rebuild: str, specs: dict[str, ArraySpec] | None = None
             ) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read in full (so a damaged member fails here), checked against ``specs``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except Exception as exc:  # a damaged zip raises any of BadZipFile, zlib.error, EOFError, struct.error, ValueError
        raise unreadable(path, exc, what, rebuild) from None
    for name, spec in (specs or {}).items():
        if name not in arrays:
            raise damaged(path, f"array {name!r} is missing", rebuild)
        problem = spec.problem(arrays[name])
        if problem:
            raise damaged(path, f"array {name!r} {problem}", rebuild)
    return arrays


@dataclass(frozen=True)
class Maybe:
    """Schema of a key that may be missing or null."""

    schema: object


@dataclass(frozen=True)
class Each:
    """Schema of an object with any keys (at least one), every value matching ``schema``."""

    schema: object


@dataclass(frozen=True)
class ListOf:
    """Schema of a list whose items match ``schema``, of exactly ``length`` items if given."""

    schema: object
    length: int | None = None


_TYPE_NAMES = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


def _type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    return {dict: "an object", list: "a list", str: "text", int: "a whole number", float: "a number"}.get(
        type(value), type(value).__name__)


def schema_problem(value, schema, where: str = "the document") -> str | None:
    """What in ``value`` (parsed JSON) does not match ``schema``, or None.

    A schema is a type (``int``, ``float`` -- any number --, ``str``, ``bool``), a dict of required
    keys to their schemas (other keys are allowed), or ``Maybe``, ``Each``, ``ListOf``.
    """
    if isinstance(schema, Maybe):
        return None if value is None else schema_problem(value, schema.schema, where)
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{where} is {_type_name(value)}, expected an object"
        for key, sub in schema.items():
            if key not in value and not isinstance(sub, Maybe):
                return f"key {key!r} is missing" + ("" if where == "the document" else f" in {where}")
            problem = schema_problem(value.get(key), sub, _child(where, key))
            if problem:
                return problem
        return None
    if isinstance(schema, Each):
        if not isinstance(value, dict) or not value:
            return f"{where} is {_type_name(value) if value != {} else 'empty'}, expected an object with entries"
        problems = (schema_problem(item, schema.schema, _child(where, key)) for key, item in value.items())
        return next((p for p in problems if p), None)
    if isinstance(schema, ListOf):
        if not isinstance(value, list):
            return f"{where} is {_type_name(value)}, expected a list"
        if schema.length is not None and len(value) != schema.length:
            return f"{where} has {len(value)} items, expected {schema.length}"
        problems = (schema_problem(item, schema.schema, f"{where}[{i}]") for i, item in enumerate(value))
        return next((p for p in problems if p), None)
    accepted = (int, float) if schema is float else schema  # an integer is a number too; a boolean is neither
    ok = isinstance(value, accepted) and (schema is bool or not isinstance(value, bool))
    return None if ok else f"{where} is {_type_name(value)}, expected {_TYPE_NAMES[schema]}"


def _child(where: str, key) -> str:
    return repr(key) if where == "the document" else f"{where}.{key}"


def read_json(path: str | Path, what: str, rebuild: str, schema: object):
    """A JSON artefact, parsed and checked against ``schema`` (see ``schema_problem``)."""
    try:
        value = json.loads(Path(path).read_text())
    except Exception as exc:  # OSError, UnicodeDecodeError, JSONDecodeError, RecursionError on deep nesting
        raise unreadable(path, exc, what, rebuild) from None
    problem = schema_problem(value, schema)
    if problem:
        raise damaged(path, problem, rebuild)
    return value
