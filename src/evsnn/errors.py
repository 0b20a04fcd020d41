"""Exceptions whose message is one sentence a person can act on."""
from __future__ import annotations

import contextlib
import os


class EvsnnError(Exception):
    """Base class: the message names what is wrong and where."""


class FormatError(EvsnnError):
    """A raw file is corrupt, truncated or not of the expected format.

    The message names the file and the byte offset where decoding broke.
    """

    def __init__(self, path: str | os.PathLike, offset: int | None, problem: str):
        self.path = os.fspath(path)
        self.offset = offset
        self.problem = problem
        where = f" at byte offset {offset}" if offset is not None else ""
        super().__init__(f"{self.path}{where}: {problem}")


class ConfigError(EvsnnError):
    """A configuration key or value is invalid; the message names the key and the allowed values."""


class DataMissingError(EvsnnError):
    """A dataset (or part of one) is not where the config says; the message says what to fetch and where to put it."""


class ChecksumError(EvsnnError):
    """A downloaded or provided file does not have the published checksum."""


class TrainingError(EvsnnError):
    """Training cannot go on (for example a NaN loss)."""


class TrainingInterrupted(TrainingError):
    """Training was stopped by a signal (SLURM preemption sends SIGTERM) after writing a checkpoint to resume from."""


@contextlib.contextmanager
def reading_hdf5(path: str | os.PathLike, what: str = "HDF5 file", fix: str = ""):
    """Turn h5py's errors while reading an open file (``OSError: Can't synchronously read data``, ``RuntimeError:
    bad symbol table node signature``, ...) into a :class:`FormatError` that names the file and what is wrong."""
    try:
        yield
    except (OSError, RuntimeError, KeyError) as exc:
        if isinstance(exc, KeyError) and "Unable to" not in str(exc):
            raise  # a missing key of ours, not a damaged file
        detail = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc).strip() or type(exc).__name__
        raise FormatError(path, None, f"the {what} is damaged and cannot be read (HDF5: {detail})"
                                      + (f"; {fix}" if fix else "")) from None
