"""Errors every stage reports the same way: one message, non-zero exit, no traceback."""
from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable


class PipelineError(Exception):
    """A problem the user can fix (bad params, bad data); shown without a traceback."""


class ParamsError(PipelineError):
    """params.yaml (or a profile) has an unknown key, a wrong type or a value out of range."""


class DataError(PipelineError):
    """A data source or prepared file is missing, corrupt, mislaid out or has the wrong checksum."""


class TrainingError(PipelineError):
    """Training diverged (NaN/inf loss) or could not produce a model worth saving."""


class ClusterError(PipelineError):
    """A multi-worker run's TF_CONFIG is invalid, its port is taken, or its cluster did not form in time."""


EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # what a shell reports for a command ended by SIGINT (128 + 2)


def os_error_message(exc: OSError) -> str:
    """``path: what went wrong`` for a failed read or write, with the usual fix for a full disk.

    A failed rename names its destination, the output being written, not the temporary source.
    """
    where = next((name for name in (exc.filename2, exc.filename) if name is not None), "output")
    message = f"{where}: {exc.strerror or exc}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        message += " (the disk is full: free space or move the project, then run the stage again)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        message += " (check the permissions of that path)"
    return message


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc``: libraries (Keras, h5py, zipfile) often wrap it in their own error."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def stage_main(func: Callable[..., None]) -> Callable[..., None]:
    """Wrap a stage's ``main``: a PipelineError or a failed file operation becomes one ``error:`` line, exit 2;
    Ctrl-C (SIGINT) one line too, exit 130.

    Stages write through ``src.core.atomic``, so by the time the error is reported their
    temporary files are gone and their outputs are as they were before the command.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PipelineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            print(f"error: {_stage_name(func)} interrupted (SIGINT); its outputs are as they were, "
                  "run it again to finish", file=sys.stderr)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            os_error = _os_error_in(exc)
            if os_error is None:
                raise
            print(f"error: {os_error_message(os_error)}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)

    return wrapper


def _stage_name(func: Callable[..., None]) -> str:
    """``src.stages.train`` -> ``train``: what the user ran (``python -m`` runs it as ``__main__``)."""
    module = func.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else "the stage"
    return module.rsplit(".", 1)[-1]
