"""Write outputs to a temporary sibling and rename on success.

DVC caches whatever a stage leaves behind, so a crash must never leave a
half-written file or directory in a declared output's place. A stage killed
outright (SIGKILL, power loss) cannot clean up after itself, so every temporary
folder carries the id of the process that made it (``.<name>.tmp<pid>.<random>``,
ignored by git): the next write into the same folder removes those whose process
is gone.

Everything written here depends only on its content: NumPy archives get fixed zip
times, so identical inputs give identical bytes and DVC re-runs nothing downstream.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

# The earliest time a zip entry can record: what every archive written here says instead of "now".
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SCRATCH = re.compile(r"^\..+\.tmp(?P<pid>\d+)\.[a-z0-9_]+$")


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def remove_stale_scratch(parent: str | os.PathLike) -> list[Path]:
    """Remove the temporary folders under ``parent`` left by processes that no longer run; return them.

    A folder of a live process (another stage running at the same time) is left alone.
    """
    removed = []
    with contextlib.suppress(OSError):
        for entry in Path(parent).iterdir():
            match = _SCRATCH.match(entry.name)
            if match and int(match["pid"]) != os.getpid() and _process_is_gone(int(match["pid"])):
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def scratch_dir(parent: str | os.PathLike, label: str) -> Path:
    """A new temporary folder ``parent/.<label>.tmp<pid>.<random>``, after clearing dead processes' ones."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(parent)
    return Path(tempfile.mkdtemp(prefix=f".{label}.tmp{os.getpid()}.", dir=parent))


def nearest_existing(path: str | os.PathLike) -> Path:
    """``path``, or the nearest of its parents that exists (what will hold it once it is made)."""
    path = Path(path)
    return next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor or "."))


def ensure_writable(*folders: str | os.PathLike) -> None:
    """Check a file can be made in each of ``folders`` (or the nearest of its parents that exists), creating
    nothing: an unwritable output fails in a second, before the work, not after it."""
    for folder in folders:
        existing = nearest_existing(folder)
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder, but the outputs go inside it", str(existing))
        os.rmdir(scratch_dir(existing, "probe"))


@contextlib.contextmanager
def naming(path: str | os.PathLike, temporary: str | os.PathLike | None = None) -> Iterator[None]:
    """Name ``path`` in a failed write that names no file (a full disk at ``write`` or ``close``), or that
    names the ``temporary`` stand-in of ``path`` or a file inside it: the user hears of the output."""
    try:
        yield
    except OSError as exc:
        name = exc.filename2 if exc.filename2 is not None else exc.filename
        if exc.errno is None or (name is not None and temporary is None):
            raise
        if name is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        inside = os.path.relpath(os.fsdecode(name), temporary)
        if inside.startswith(os.pardir):
            raise
        raise OSError(exc.errno, exc.strerror, os.path.normpath(os.path.join(path, inside))) from exc


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it into place only if the block succeeds.

    The temporary name keeps ``target``'s suffix, so writers that insist on an
    extension (``model.save`` wants ``.keras``) accept it.
    """
    target = Path(target)
    tmp_dir = scratch_dir(target.parent, target.name)
    tmp = tmp_dir / f"partial{''.join(target.suffixes)}"
    try:
        with naming(target, tmp):
            if is_dir:
                tmp.mkdir()
            yield tmp
            if not tmp.exists():
                raise FileNotFoundError(f"nothing was written for {target}")
            publish(tmp, target)
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


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez`` without the time of writing inside: the same arrays give the same bytes."""
    with naming(path), zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH), "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)


@contextlib.contextmanager
def staging_dir(parent: str | os.PathLike = ".") -> Iterator[Path]:
    """A scratch directory under ``parent`` (same filesystem, so ``publish`` is a rename), always removed."""
    tmp = scratch_dir(parent, "staging")
    try:
        with naming(tmp):
            yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move a finished file or directory into ``target``'s place, replacing what was there."""
    publish_all([(source, target)])


def publish_all(moves: list[tuple[str | os.PathLike, str | os.PathLike]]) -> None:
    """Move finished files or directories into their targets' places: all of them, or (on a failure) none.

    Each old target is first renamed aside (same folder, so same filesystem), and renamed
    back if a later move fails, so a stage never ends with some outputs new and others old.
    """
    done: list[tuple[Path, Path, Path | None]] = []  # (source, target, folder holding the old target)
    published = False
    try:
        for source, target in moves:
            source, target = Path(source), Path(target)
            with naming(target):
                target.parent.mkdir(parents=True, exist_ok=True)
                aside = scratch_dir(target.parent, target.name) if target.exists() or target.is_symlink() else None
                done.append((source, target, aside))
                if aside is not None:
                    os.replace(target, aside / "old")
                os.replace(source, target)
        published = True
    except BaseException:
        for source, target, aside in reversed(done):
            with contextlib.suppress(OSError):
                if not source.exists() and (target.exists() or target.is_symlink()):
                    os.replace(target, source)
                if aside is not None and (aside / "old").exists():
                    os.replace(aside / "old", target)
        raise
    finally:
        for _, _, aside in done:
            # An old output that could not be put back stays aside; the next write here clears it.
            if aside is not None and (published or not (aside / "old").exists()):
                shutil.rmtree(aside, ignore_errors=True)
