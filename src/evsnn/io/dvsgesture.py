"""DVS128 Gesture (IBM, Amir et al. CVPR 2017) metadata: label CSVs, trial lists, class mapping, the file tree.

Sources (reference/FORMATS.md section 1): the official ``README.txt`` of the archive; a real ``_labels.csv``
(header ``class,startTime_usec,endTime_usec``, 1-based classes, µs in the clock of the ``.aedat`` timestamps);
spikingjelly ``dvs128_gesture.py`` (label = class - 1, slicing ``start <= t < end``, trial lists read with
``strip()`` and empty lines skipped). Known quirks kept as they are: a class can occur more than once in a file,
rows are not in class order, and windows can overlap (user22_led); nothing here sorts or merges rows.

The tree (``DvsGesture/`` after extracting ``DvsGesture.tar.gz``)::

    userNN_<lighting>.aedat  userNN_<lighting>_labels.csv  trials_to_train.txt  trials_to_test.txt
    gesture_mapping.csv (shipped next to the archive)
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from evsnn.errors import DataMissingError, FormatError

__all__ = ["CLASS_NAMES", "NUM_CLASSES", "LABEL_DTYPE", "SPLITS", "TRIAL_LISTS", "read_labels", "write_labels",
           "read_trial_list", "read_gesture_mapping", "labels_path_for", "list_trials", "find_root"]

#: the 11 official classes, index = label = class - 1 [README-DVSG]
CLASS_NAMES = [
    "hand clapping",
    "right hand wave",
    "left hand wave",
    "right arm clockwise",
    "right arm counter clockwise",
    "left arm clockwise",
    "left arm counter clockwise",
    "arm roll",
    "air drums",
    "air guitar",
    "other gestures",
]
NUM_CLASSES = len(CLASS_NAMES)

#: one row of a ``_labels.csv``: 0-based label, window [start, end) in µs
LABEL_DTYPE = np.dtype([("label", "<i2"), ("start", "<i8"), ("end", "<i8")])

SPLITS = ("train", "test")
TRIAL_LISTS = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}
LABELS_HEADER = ("class", "startTime_usec", "endTime_usec")


def read_labels(csv_path: str | os.PathLike) -> np.ndarray:
    """Read a ``userNN_<lighting>_labels.csv`` into a LABEL_DTYPE array, in file order.

    ``label`` = class - 1 (0..10), ``start``/``end`` in µs. A header row (first row whose first field is not an
    integer) is skipped, as are blank lines. Any other row that is not three integers with 1 <= class <= 11 and
    start < end raises :class:`FormatError` naming the file, the line number and the byte offset of the line.
    """
    path = os.fspath(csv_path)
    with open(path, "rb") as fh:
        raw = fh.read()
    rows: list[tuple[int, int, int]] = []
    offset = 0
    for lineno, line in enumerate(raw.splitlines(keepends=True), start=1):
        line_offset = offset
        offset += len(line)
        try:
            text = line.decode("ascii").strip()
        except UnicodeDecodeError:
            raise FormatError(path, line_offset, f"line {lineno}: non-ASCII bytes in a label file") from None
        if not text:
            continue
        fields = [f.strip() for f in text.split(",")]
        if lineno == 1 and not fields[0].lstrip("+-").isdigit():
            continue  # header row, e.g. "class,startTime_usec,endTime_usec"
        if len(fields) != 3:
            raise FormatError(path, line_offset, f"line {lineno}: expected 3 comma-separated fields "
                                                 f"(class,startTime_usec,endTime_usec), got {text!r}")
        try:
            cls, start, end = (int(f) for f in fields)
        except ValueError:
            raise FormatError(path, line_offset, f"line {lineno}: fields are not integers: {text!r}") from None
        if not 1 <= cls <= NUM_CLASSES:
            raise FormatError(path, line_offset, f"line {lineno}: class {cls} outside 1..{NUM_CLASSES}")
        if start < 0 or end <= start:
            raise FormatError(path, line_offset, f"line {lineno}: window [{start}, {end}) is empty or negative")
        rows.append((cls - 1, start, end))
    return np.array(rows, dtype=LABEL_DTYPE)


def write_labels(csv_path: str | os.PathLike, labels: np.ndarray) -> Path:
    """Write a LABEL_DTYPE array as a ``_labels.csv`` (the official header, 1-based classes, LF line ends)."""
    path = Path(csv_path)
    buf = io.StringIO()
    buf.write(",".join(LABELS_HEADER) + "\n")
    for label, start, end in zip(labels["label"].tolist(), labels["start"].tolist(), labels["end"].tolist()):
        buf.write(f"{label + 1},{start},{end}\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buf.getvalue(), encoding="ascii")
    os.replace(tmp, path)
    return path


def read_trial_list(path: str | os.PathLike) -> list[str]:
    """Read ``trials_to_train.txt`` / ``trials_to_test.txt``: one ``.aedat`` name per line, stripped, blanks skipped."""
    with open(path, encoding="ascii") as fh:
        return [name.strip() for name in fh if name.strip()]


def read_gesture_mapping(path: str | os.PathLike) -> dict[int, str]:
    """Read ``gesture_mapping.csv`` into ``{class (1-based): name}``.

    The exact layout of the official file is not verified (FORMATS.md 1.2), so either column order
    (``id,name`` or ``name,id``) is accepted and a header row (no integer field) is skipped. A row with neither
    exactly one integer field nor two fields raises :class:`FormatError` with its line number.
    """
    path = os.fspath(path)
    mapping: dict[int, str] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            fields = [f.strip() for f in row]
            if not any(fields):
                continue
            ints = [i for i, f in enumerate(fields) if f.lstrip("+-").isdigit()]
            if not ints and lineno == 1:
                continue  # header
            if len(fields) != 2 or len(ints) != 1:
                raise FormatError(path, None, f"line {lineno}: expected 'class,name' or 'name,class', got {row!r}")
            key = int(fields[ints[0]])
            mapping[key] = fields[1 - ints[0]]
    return mapping


def labels_path_for(aedat_path: str | os.PathLike) -> Path:
    """``userNN_<lighting>.aedat`` -> ``userNN_<lighting>_labels.csv`` in the same directory."""
    p = Path(aedat_path)
    return p.with_name(p.stem + "_labels.csv")


def find_root(root: str | os.PathLike) -> Path:
    """The directory holding the trial lists: ``root`` itself or ``root/DvsGesture`` (the extracted archive)."""
    root = Path(root)
    for cand in (root, root / "DvsGesture"):
        if (cand / TRIAL_LISTS["train"]).is_file():
            return cand
    return root


def list_trials(root: str | os.PathLike) -> dict[str, list[tuple[Path, Path]]]:
    """The official split of a DvsGesture tree: ``{"train": [(aedat, labels_csv), ...], "test": [...]}``.

    ``root`` is the directory with the ``.aedat`` files, ``_labels.csv`` files and both trial lists (or its parent
    holding ``DvsGesture/``). Trials keep the order of the lists. A missing trial list, ``.aedat`` or
    ``_labels.csv`` raises :class:`DataMissingError` naming the missing file.
    """
    base = find_root(root)
    out: dict[str, list[tuple[Path, Path]]] = {}
    for split in SPLITS:
        lst = base / TRIAL_LISTS[split]
        if not lst.is_file():
            raise DataMissingError(f"{lst}: trial list missing; expected the extracted DvsGesture.tar.gz "
                                   f"(with {TRIAL_LISTS['train']} and {TRIAL_LISTS['test']}) in {base}")
        trials = []
        for name in read_trial_list(lst):
            aedat = base / name
            labels = labels_path_for(aedat)
            for needed in (aedat, labels):
                if not needed.is_file():
                    raise DataMissingError(f"{needed}: listed in {lst.name} (trial {name}) but missing; "
                                           "re-extract DvsGesture.tar.gz into this directory")
            trials.append((aedat, labels))
        out[split] = trials
    return out
