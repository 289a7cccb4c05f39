"""Write outputs to a temporary sibling and rename on success.

DVC caches whatever a stage leaves behind, so a crash must never leave a
half-written file or directory in a declared output's place.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it into place only if the block succeeds.

    The temporary name keeps ``target``'s suffix, so writers that insist on an
    extension (``model.save`` wants ``.keras``) accept it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp = tmp_dir / f"partial{''.join(target.suffixes)}"
    if is_dir:
        tmp.mkdir()
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written for {target}")
        _remove(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def staging_dir(parent: str | os.PathLike = ".") -> Iterator[Path]:
    """A scratch directory under ``parent`` (same filesystem, so ``publish`` is a rename), always removed."""
    Path(parent).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".staging.", dir=parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move a finished file or directory into ``target``'s place, replacing what was there."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove(target)
    os.replace(source, target)
