"""Fault injection at the write primitives: fail the k-th write of a stage, or SIGKILL it at a chosen write.

A *write* is any call that creates or changes something under the project folder: opening a
file for writing (``open``/``io.open``, which pathlib, zipfile, NumPy, matplotlib, PIL and the
Keras saver all go through), ``os.open`` with a creating or writing flag (``mkstemp``),
``os.mkdir`` (``mkdtemp``, ``Path.mkdir``) and ``os.replace``/``os.rename`` (every publication).
Writes elsewhere (TensorFlow's own temporary files) are not counted, so a sweep over k covers
exactly the stage's own outputs.

The injected error looks like the real one: a full disk (ENOSPC) fails at ``write``/``close``,
where Python names no file, so an ``open`` fault carries no file name; a permission error
(EACCES) is refused at ``open``, with the name. Run as a module it wraps a stage in a
subprocess and kills it with SIGKILL at the first write whose path contains a given text:

    python -m tests.write_faults --kill-at latest.weights.h5 src.stages.train --variant se --seed 0
"""
from __future__ import annotations

import argparse
import builtins
import errno
import io
import os
import runpy
import signal
import sys
from pathlib import Path

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class WriteFaults:
    """Count the writes under ``root`` made inside the ``with`` block; fail the ``fail_at``-th (1-based)
    with ``OSError(error)``, or SIGKILL the process at the first write whose path contains ``kill_at``."""

    def __init__(self, root: str | os.PathLike = ".", fail_at: int | None = None, error: int = errno.ENOSPC,
                 kill_at: str | None = None):
        self.root = Path(root).resolve()
        self.fail_at, self.error, self.kill_at = fail_at, error, kill_at
        self.writes: list[tuple[str, str]] = []  # (primitive, path) of every counted write, in order
        self.failed: tuple[str, str] | None = None
        self._saved: list[tuple[object, str, object]] = []

    def _counts(self, path) -> bool:
        if isinstance(path, int):  # a file descriptor: already opened (and counted) by path
            return False
        try:
            resolved = Path(os.fsdecode(path)).resolve()
        except (TypeError, ValueError):
            return False
        return resolved == self.root or self.root in resolved.parents

    def _write(self, primitive: str, path, named: bool = True) -> None:
        if not self._counts(path):
            return
        path = os.fsdecode(path)
        self.writes.append((primitive, path))
        if self.kill_at is not None and self.kill_at in path:
            os.kill(os.getpid(), signal.SIGKILL)
        if len(self.writes) == self.fail_at:
            self.failed = (primitive, path)
            if named:
                raise OSError(self.error, os.strerror(self.error), path)
            raise OSError(self.error, os.strerror(self.error))

    def __enter__(self) -> WriteFaults:
        real_open, real_os_open = builtins.open, os.open
        real_mkdir, real_replace, real_rename = os.mkdir, os.replace, os.rename

        def fake_open(file, mode="r", *args, **kwargs):
            if any(c in mode for c in "wax+"):
                self._write("open", file, named=self.error != errno.ENOSPC)
            return real_open(file, mode, *args, **kwargs)

        def fake_os_open(path, flags, *args, **kwargs):
            if flags & _WRITE_FLAGS:
                self._write("os.open", path)
            return real_os_open(path, flags, *args, **kwargs)

        def fake_mkdir(path, *args, **kwargs):
            self._write("mkdir", path)
            return real_mkdir(path, *args, **kwargs)

        def fake_replace(src, dst, *args, **kwargs):
            self._write("replace", dst)
            return real_replace(src, dst, *args, **kwargs)

        def fake_rename(src, dst, *args, **kwargs):
            self._write("rename", dst)
            return real_rename(src, dst, *args, **kwargs)

        for owner, name, fake in ((builtins, "open", fake_open), (io, "open", fake_open),
                                  (os, "open", fake_os_open), (os, "mkdir", fake_mkdir),
                                  (os, "replace", fake_replace), (os, "rename", fake_rename)):
            self._saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, fake)
        return self

    def __exit__(self, *exc_info) -> None:
        for owner, name, real in reversed(self._saved):
            setattr(owner, name, real)
        self._saved.clear()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kill-at", required=True, help="SIGKILL at the first write whose path contains this")
    parser.add_argument("module", help="the stage module, e.g. src.stages.train")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    sys.argv = [args.module, *args.args]
    with WriteFaults(kill_at=args.kill_at):
        runpy.run_module(args.module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
