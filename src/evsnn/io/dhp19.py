"""DHP19 raw data (Calabrese et al., CVPRW 2019): file tree, recording windows, Vicon labels, projection matrices.

Sources (reference/FORMATS.md section 2; the official MATLAB code is SensorsINI/DHP19 ``generate_DHP19/``):

- tree (2.1): ``DVS_movies/S{s}/session{k}/mov{m}.aedat``, ``Vicon_data/S{s}_{k}_{m}.mat``,
  ``P_matrices/P1.npy .. P4.npy camera_positions.npy``; sessions 1..5 hold 8, 6, 6, 6, 7 movements
  (``Generate_DHP19.m`` loops over exactly these counts and skips a missing ``.aedat``).
- the ``.aedat`` files are AEDAT 2.0 with the 4 cameras multiplexed (read with
  :func:`evsnn.io.aedat2.read_aedat2` ``layout="davis346"``; special (trigger) timestamps in
  ``header["special_timestamps"]``).
- start/stop of the labelled part (2.3): the special-event rules of ``Generate_DHP19.m`` (:func:`recording_window`),
  then the event selection of ``extract_from_aedat.m`` (:func:`select_window`).
- Vicon ``.mat`` (2.4): MATLAB v5 struct ``XYZPOS`` with 13 fields of N x 3 doubles (mm, 100 Hz, NaN allowed), in the
  canonical joint order of ``ExtractEventsToFramesAndMeanLabels.m`` (:data:`JOINTS`).
- projection matrices (2.5) and the channel <-> camera mapping (2.2) of the official notebooks
  (``heatmap_generation_example.ipynb``, ``Eval_2D_triangulation_and_3D_tutorial.ipynb``).
- known data problems (2.8): :data:`KNOWN_BAD`.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evsnn.errors import DataMissingError, EvsnnError, FormatError
from evsnn.util import atomic_path

__all__ = [
    "JOINTS", "N_JOINTS", "SESSIONS", "MOVEMENTS_PER_SESSION", "N_CAMERAS", "SENSOR_SIZE",
    "CHANNEL_TO_CAMERA", "CAMERA_TO_CHANNEL", "FRONT_CAMERAS", "FRONT_CHANNELS", "CAMERA_POSITIONS_MM",
    "VICON_RATE_HZ", "US_PER_VICON_SAMPLE", "MAX_VALID_SPECIALS",
    "CorruptRecordingError", "Recording", "KnownProblem", "KNOWN_BAD",
    "recording_window", "window_mask", "select_window", "read_vicon", "write_vicon",
    "read_projection_matrices", "read_camera_positions", "write_projection_matrices",
    "list_recordings", "aedat_path", "vicon_path", "movement_index",
]

log = logging.getLogger("evsnn")

#: joint order of the labels (index 0..12), as written by ExtractEventsToFramesAndMeanLabels.m (pose(1..13,:)).
#: hpe-core's parser swaps hipR/hipL; this is the official order.
JOINTS = ("head", "shoulderR", "shoulderL", "elbowR", "elbowL", "hipR", "hipL",
          "handR", "handL", "kneeR", "kneeL", "footR", "footL")
N_JOINTS = len(JOINTS)

#: sessions and the number of movements of each (Generate_DHP19.m); 33 movements in all
SESSIONS = (1, 2, 3, 4, 5)
MOVEMENTS_PER_SESSION = {1: 8, 2: 6, 3: 6, 4: 6, 5: 7}

N_CAMERAS = 4
SENSOR_SIZE = (346, 260)  # DAVIS346 (width, height)

#: aedat/h5 channel -> physical camera (P-matrix number) [DHP19 notebooks; DHP19 issue #7]
CHANNEL_TO_CAMERA = {1: 1, 3: 2, 2: 3, 0: 4}
CAMERA_TO_CHANNEL = {cam: ch for ch, cam in CHANNEL_TO_CAMERA.items()}
#: the two front views used for 2D evaluation and triangulation
FRONT_CAMERAS = (2, 3)
FRONT_CHANNELS = tuple(CAMERA_TO_CHANNEL[c] for c in FRONT_CAMERAS)  # (3, 2)
#: camera centres of the real setup (mm), camera 1..4 = rows 0..3 of camera_positions.npy (FORMATS 2.2)
CAMERA_POSITIONS_MM = np.array([[2270.0, -181.0, 2003.0],
                                [2231.0, -2487.0, 1954.0],
                                [-2101.0, -2318.0, 2063.0],
                                [-2312.0, -89.0, 2150.0]])

VICON_RATE_HZ = 100
#: "1e4 factor is to go from 100Hz Vicon sampling freq to us DVS temporal resolution" (Generate_DHP19.m)
US_PER_VICON_SAMPLE = 10_000
#: more special events than this: corrupted recording, skipped (Generate_DHP19.m case g)
MAX_VALID_SPECIALS = 5

_UINT32_MAX = 0xFFFFFFFF


class CorruptRecordingError(EvsnnError):
    """A recording the official code skips as corrupted (more than 5 special events, e.g. S4/session3/mov4).

    The caller logs it and goes on with the next recording, as ``Generate_DHP19.m`` does (``continue``).
    """

    def __init__(self, path: str | os.PathLike, n_specials: int):
        self.path = os.fspath(path)
        self.n_specials = int(n_specials)
        super().__init__(f"{self.path}: {self.n_specials} special (trigger) events (more than "
                         f"{MAX_VALID_SPECIALS}): corrupted recording, skipped as in the official Generate_DHP19.m")


# --------------------------------------------------------------------------------------------------
# start / stop of the labelled part
# --------------------------------------------------------------------------------------------------
def recording_window(special_ts, event_ts, n_vicon: int, path: str | os.PathLike = "<recording>", *,
                     has_special_field: bool | None = None) -> tuple[int, int, str]:
    """Start and stop time (µs) of the labelled part of a recording: every rule of ``Generate_DHP19.m``.

    With ``n = n_vicon * 10000`` (Vicon samples at 100 Hz expressed in µs; ``n_vicon = len(XYZPOS.head)``) and
    ``events`` the polarity-event timestamps in file order:

    ========================  ===================================================================================
    special events            start, stop
    ========================  ===================================================================================
    no special field at all   ``events(1)``, ``events(end)`` (the ``catch`` branch; S14/session5/mov3)
    field present but empty   error (``error('special field is there but is empty')``; see note)
    1                         closer to the end (``special - min(events) > max(events) - special``):
                              ``stop = special, start = stop - n``; otherwise ``start = special, stop = start + n``
                              (S5/session4/mov2, S16/session2/mov4)
    2 or 4                    ``special = first``; timestamps wrapped (``events(end) < events(1)``, S14_1_1):
                              ``start = special, stop = max(events)``; otherwise the closer-to-end rule above with
                              ``events(1)`` / ``events(end)`` in place of min / max
    3 or 5                    ``start = first special, stop = last special``
    more than 5               :class:`CorruptRecordingError` (S4/session3/mov4 and mov6; the caller skips it)
    ========================  ===================================================================================

    Parameters
    ----------
    special_ts: special-event timestamps in file order (``header["special_timestamps"]`` of
        :func:`~evsnn.io.aedat2.read_aedat2`), or ``None`` for "the file has no special field".
    event_ts: polarity-event timestamps in file order (int, µs).
    n_vicon: number of Vicon samples (``len(XYZPOS.head)``).
    path: named in errors.
    has_special_field: the MATLAB importer (``ImportAedatDataVersion1or2.m``) creates ``aedat.data.special`` only
        when the file has at least one special event, so an empty ``special_ts`` means "no special field" (the
        default, ``None``). Pass ``True`` to state that the field exists although it is empty: that raises
        :class:`FormatError` as the MATLAB ``error(...)`` line does.

    Returns
    -------
    ``(start, stop, rule)``: ints in µs (not yet clipped to uint32; see :func:`select_window`) and a short
    description of the rule applied.

    Note: in ``Generate_DHP19.m`` the ``error(...)`` for an empty special field is raised inside the ``try`` block,
    so MATLAB itself would continue in the ``catch`` branch (first/last event). The case cannot arise from a file,
    since the importer never creates an empty field; we raise, as FORMATS 2.3 specifies.
    """
    path = os.fspath(path)
    ev = np.asarray(event_ts)
    if ev.ndim != 1:
        raise ValueError(f"event_ts must be one-dimensional, got shape {ev.shape}")
    if isinstance(n_vicon, (bool, np.bool_)) or int(n_vicon) != n_vicon or n_vicon < 0:
        raise ValueError(f"n_vicon must be a non-negative integer, got {n_vicon!r}")
    n = int(n_vicon) * US_PER_VICON_SAMPLE
    sp = None if special_ts is None else np.asarray(special_ts, dtype=np.int64).reshape(-1)
    if sp is not None and sp.size == 0 and has_special_field:
        raise FormatError(path, None, "the special (trigger) event field is there but is empty "
                                      "(Generate_DHP19.m: 'special field is there but is empty')")
    if ev.size == 0:
        raise FormatError(path, None, "the recording has no polarity events, so no start/stop time can be derived")
    ev = ev.astype(np.int64, copy=False)
    first, last = int(ev[0]), int(ev[-1])
    if sp is None or sp.size == 0:
        return first, last, "no special events: start/stop = first/last event"
    ns = int(sp.size)
    if ns > MAX_VALID_SPECIALS:
        raise CorruptRecordingError(path, ns)
    if ns == 1:
        s = int(sp[0])
        if s - int(ev.min()) > int(ev.max()) - s:
            return s - n, s, "1 special, closer to the end: stop = special, start = stop - n"
        return s, s + n, "1 special, closer to the start: start = special, stop = start + n"
    if ns in (2, 4):
        s = int(sp[0])
        if last < first:  # timestamps wrapped (S14_1_1)
            return s, int(ev.max()), f"{ns} specials, timestamps wrap: start = first special, stop = max(events)"
        if s - first > last - s:
            return s - n, s, f"{ns} specials, first one closer to the end: stop = special, start = stop - n"
        return s, s + n, f"{ns} specials, first one closer to the start: start = special, stop = start + n"
    # 3 or 5
    return int(sp[0]), int(sp[-1]), f"{ns} specials: start = first special, stop = last special"


def _uint32(v: int) -> int:
    """MATLAB ``uint32(v)`` of an integer: saturates at 0 and 2**32 - 1."""
    return min(max(int(v), 0), _UINT32_MAX)


def window_mask(event_ts, start: int, stop: int) -> np.ndarray:
    """Element-wise strict selection ``start < t < stop`` (FORMATS 2.3), with start/stop clipped to uint32."""
    t = np.asarray(event_ts)
    return (t > _uint32(start)) & (t < _uint32(stop))


_SCAN = 1 << 14


def _first_index(t, cond) -> int:
    """Index of the first element with ``cond`` true (-1 if none), scanning in chunks from the front."""
    for a in range(0, t.size, _SCAN):
        m = cond(t[a:a + _SCAN])
        if m.any():
            return a + int(np.argmax(m))
    return -1


def _last_index(t, cond) -> int:
    """Index of the last element with ``cond`` true (-1 if none), scanning in chunks from the back."""
    for b in range(t.size, 0, -_SCAN):
        a = max(0, b - _SCAN)
        m = cond(t[a:b])
        if m.any():
            return b - 1 - int(np.argmax(m[::-1]))
    return -1


def select_window(event_ts, start: int, stop: int, path: str | os.PathLike = "<recording>") -> slice:
    """The contiguous range of events that ``extract_from_aedat.m`` keeps, as a slice of the file-order events.

    ``ExtractEventsToFramesAndMeanLabels.m`` first casts start/stop to uint32 (negative -> 0). Then, when
    ``events(end) > events(1)``: from the first event with ``t > start`` to the last event with ``t < stop``
    (for sorted timestamps exactly the events with ``start < t < stop``, :func:`window_mask`; with a few
    non-monotonic timestamps it is the contiguous range between those two events). Otherwise (timestamps wrapped,
    S14_1_1): from the first event with ``t == start`` to the first event with ``t == stop``, both included.
    An empty selection gives an empty slice; in the wrap case a start/stop that no event carries raises
    :class:`FormatError` (MATLAB fails there with an index error).
    """
    t = np.asarray(event_ts)
    n = t.size
    if n == 0:
        return slice(0, 0)
    start, stop = _uint32(start), _uint32(stop)
    if t[-1] > t[0]:
        i0 = _first_index(t, lambda a: a > start)
        i1 = _last_index(t, lambda a: a < stop)
        if i0 < 0 or i1 < 0:
            return slice(0, 0)
        return slice(i0, max(i0, i1 + 1))
    at_start = np.flatnonzero(t == start)
    at_stop = np.flatnonzero(t == stop)
    if at_start.size == 0 or at_stop.size == 0:
        missing = "start" if at_start.size == 0 else "stop"
        raise FormatError(path, None, f"timestamps wrap (last event before the first) and no event has the {missing} "
                                      f"time {start if missing == 'start' else stop} µs that the official code "
                                      "selects by equality")
    i0, i1 = int(at_start[0]), int(at_stop[0])
    return slice(i0, max(i0, i1 + 1))


# --------------------------------------------------------------------------------------------------
# Vicon labels
# --------------------------------------------------------------------------------------------------
def read_vicon(path: str | os.PathLike) -> np.ndarray:
    """Read a DHP19 Vicon ``.mat`` file: ``(N, 3, 13)`` float64 in mm, ``[sample, xyz, joint]``, NaNs kept.

    The file is a MATLAB v5 ``.mat`` with a struct ``XYZPOS`` whose 13 fields (:data:`JOINTS`) are N x 3 doubles
    (X, Y, Z) sampled at 100 Hz. Joint ``j`` of sample ``i`` is ``out[i, :, j]`` (the layout of the ``/XYZ`` label
    datasets, one sample per row). Raises :class:`FormatError` naming the file (and the field) when it is not a
    readable v5 ``.mat``, has no ``XYZPOS`` struct, lacks a joint field or has fields of different lengths or not
    N x 3; :class:`DataMissingError` when the file does not exist.
    """
    from scipy.io import loadmat  # lazy: scipy is only needed for DHP19 labels

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataMissingError(f"Vicon label file {path} does not exist; DHP19 expects "
                               "Vicon_data/S{subject}_{session}_{movement}.mat next to DVS_movies/")
    try:
        mat = loadmat(path, squeeze_me=False, struct_as_record=True)
    except NotImplementedError as exc:  # MATLAB v7.3 (HDF5)
        raise FormatError(path, None, f"MATLAB v7.3 (HDF5) .mat files are not supported, DHP19 Vicon files are "
                                      f"MATLAB v5 ({exc})") from None
    except Exception as exc:  # scipy raises ValueError / MatReadError / TypeError on garbage
        raise FormatError(path, None, f"not a readable MATLAB v5 .mat file ({type(exc).__name__}: {exc})") from None
    if "XYZPOS" not in mat:
        names = sorted(k for k in mat if not k.startswith("__"))
        raise FormatError(path, None, f"no struct variable 'XYZPOS' (variables: {names or 'none'})")
    s = mat["XYZPOS"]
    if s.dtype.names is None or s.size < 1:
        raise FormatError(path, None, f"variable 'XYZPOS' is not a struct (dtype {s.dtype}, shape {s.shape})")
    rec = s.reshape(-1)[0]
    out = None
    for j, name in enumerate(JOINTS):
        if name not in s.dtype.names:
            raise FormatError(path, None, f"struct XYZPOS has no field '{name}' (fields: {list(s.dtype.names)})")
        a = np.asarray(rec[name])
        if a.dtype == object or a.ndim != 2 or a.shape[1] != 3 or not np.issubdtype(a.dtype, np.number):
            raise FormatError(path, None, f"field XYZPOS.{name} has shape {a.shape} (dtype {a.dtype}), "
                                          "expected N x 3 numbers")
        if out is None:
            out = np.empty((a.shape[0], 3, N_JOINTS), dtype=np.float64)
        elif a.shape[0] != out.shape[0]:
            raise FormatError(path, None, f"field XYZPOS.{name} has {a.shape[0]} samples, XYZPOS.{JOINTS[0]} has "
                                          f"{out.shape[0]}")
        out[:, :, j] = a
    return out


def write_vicon(path: str | os.PathLike, xyz) -> Path:
    """Write ``(N, 3, 13)`` joint positions (mm) as a DHP19-style MATLAB v5 ``.mat`` (struct ``XYZPOS``), atomically."""
    from scipy.io import savemat

    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[1:] != (3, N_JOINTS):
        raise ValueError(f"xyz must have shape (N, 3, {N_JOINTS}), got {xyz.shape}")
    path = Path(path)
    struct = {name: np.ascontiguousarray(xyz[:, :, j]) for j, name in enumerate(JOINTS)}
    with atomic_path(path, suffix=".mat") as tmp:
        with open(tmp, "wb") as fh:
            savemat(fh, {"XYZPOS": struct}, format="5", oned_as="column")
    return path


# --------------------------------------------------------------------------------------------------
# projection matrices
# --------------------------------------------------------------------------------------------------
def _load_npy(path: Path, shape: tuple[int, ...], what: str) -> np.ndarray:
    if not path.is_file():
        raise DataMissingError(f"{what} {path} does not exist; DHP19 expects P_matrices/P1.npy .. P4.npy and "
                               "P_matrices/camera_positions.npy")
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise FormatError(path, None, f"not a readable .npy array ({type(exc).__name__}: {exc})") from None
    if a.shape != shape:
        raise FormatError(path, None, f"{what} has shape {a.shape}, expected {shape}")
    if not np.issubdtype(a.dtype, np.number):
        raise FormatError(path, None, f"{what} has dtype {a.dtype}, expected numbers")
    return a.astype(np.float64)


def read_projection_matrices(folder: str | os.PathLike) -> dict[int, np.ndarray]:
    """``{camera: P}`` for cameras 1..4 from ``P1.npy .. P4.npy`` in ``folder`` (3 x 4, world mm -> pixels).

    ``uvw = P @ [X, Y, Z, 1]``, ``u = uvw0/uvw2``, ``v = H - uvw1/uvw2`` (see
    :func:`evsnn.tasks.pose.preprocess.project`). Camera ``c`` is h5/aedat channel ``CAMERA_TO_CHANNEL[c]``.
    A missing file raises :class:`DataMissingError`, a wrong shape :class:`FormatError` naming the file and the
    shape found.
    """
    folder = Path(folder)
    return {cam: _load_npy(folder / f"P{cam}.npy", (3, 4), f"projection matrix P{cam}")
            for cam in range(1, N_CAMERAS + 1)}


def read_camera_positions(folder: str | os.PathLike) -> np.ndarray:
    """Camera centres ``(4, 3)`` in mm from ``camera_positions.npy`` (row ``c - 1`` = camera ``c``)."""
    return _load_npy(Path(folder) / "camera_positions.npy", (N_CAMERAS, 3), "camera position array")


def write_projection_matrices(folder: str | os.PathLike, matrices: dict[int, np.ndarray],
                              positions: np.ndarray) -> Path:
    """Write ``P1.npy .. P4.npy`` and ``camera_positions.npy`` into ``folder`` (each file atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for cam in range(1, N_CAMERAS + 1):
        P = np.asarray(matrices[cam], dtype=np.float64)
        if P.shape != (3, 4):
            raise ValueError(f"projection matrix of camera {cam} must be 3 x 4, got {P.shape}")
        with atomic_path(folder / f"P{cam}.npy", suffix=".npy") as tmp:
            np.save(tmp, P)
    pos = np.asarray(positions, dtype=np.float64)
    if pos.shape != (N_CAMERAS, 3):
        raise ValueError(f"camera positions must be {N_CAMERAS} x 3, got {pos.shape}")
    with atomic_path(folder / "camera_positions.npy", suffix=".npy") as tmp:
        np.save(tmp, pos)
    return folder


# --------------------------------------------------------------------------------------------------
# the raw tree
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recording:
    """One DHP19 recording: subject 1..17, session 1..5, movement (1-based within the session), its files."""

    subject: int
    session: int
    movement: int
    aedat: Path
    vicon: Path

    @property
    def name(self) -> str:
        """``S{s}_session{k}_mov{m}``, the stem of the official h5 outputs."""
        return f"S{self.subject}_session{self.session}_mov{self.movement}"

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.subject, self.session, self.movement)


def aedat_path(root: str | os.PathLike, subject: int, session: int, movement: int) -> Path:
    return Path(root) / "DVS_movies" / f"S{subject}" / f"session{session}" / f"mov{movement}.aedat"


def vicon_path(root: str | os.PathLike, subject: int, session: int, movement: int) -> Path:
    return Path(root) / "Vicon_data" / f"S{subject}_{session}_{movement}.mat"


def movement_index(session: int, movement: int) -> int:
    """0-based index 0..32 of a (session, movement) pair over the 33 DHP19 movements."""
    if session not in MOVEMENTS_PER_SESSION or not 1 <= movement <= MOVEMENTS_PER_SESSION[session]:
        raise ValueError(f"no movement {movement} in session {session} (sessions 1..5 hold 8, 6, 6, 6, 7 movements)")
    return sum(MOVEMENTS_PER_SESSION[s] for s in SESSIONS if s < session) + movement - 1


_LAYOUT_HELP = ("the DHP19 layout is <root>/DVS_movies/S{subject}/session{1..5}/mov{m}.aedat with "
                "<root>/Vicon_data/S{subject}_{session}_{movement}.mat and <root>/P_matrices/P1.npy .. P4.npy")


def list_recordings(root: str | os.PathLike, subjects=None, *, report: list | None = None) -> list[Recording]:
    """The recordings of a DHP19 raw tree, in the order of ``Generate_DHP19.m`` (subject, session, movement).

    ``subjects``: the subject numbers to list (e.g. ``range(1, 18)``); ``None`` lists every ``DVS_movies/S*``
    folder present. A requested subject without its ``DVS_movies/S{s}`` folder raises :class:`DataMissingError`
    naming the folder and the expected layout. Within a subject, sessions 1..5 and movements 1..8/6/6/6/7 are
    visited as in ``Generate_DHP19.m``; a missing ``.aedat`` is skipped silently (the official loop does
    ``continue``). A recording whose Vicon ``.mat`` is missing is left out and logged (warning on the ``evsnn``
    logger) and, when ``report`` is a list, appended to it as ``(Recording, reason)``; the official script would
    stop there (``assert(isfile(labelPath))``).
    """
    root = Path(root)
    movies = root / "DVS_movies"
    if not movies.is_dir():
        raise DataMissingError(f"DHP19 folder {movies} does not exist; {_LAYOUT_HELP}")
    if subjects is None:
        found = []
        for p in movies.iterdir():
            m = re.fullmatch(r"S(\d+)", p.name)
            if m and p.is_dir():
                found.append(int(m.group(1)))
        subjects = sorted(found)
    out: list[Recording] = []
    for s in subjects:
        s = int(s)
        sdir = movies / f"S{s}"
        if not sdir.is_dir():
            raise DataMissingError(f"DHP19 subject folder {sdir} does not exist (subject {s} is configured); "
                                   f"{_LAYOUT_HELP}")
        for k in SESSIONS:
            for m in range(1, MOVEMENTS_PER_SESSION[k] + 1):
                a = aedat_path(root, s, k, m)
                if not a.is_file():
                    continue
                v = vicon_path(root, s, k, m)
                rec = Recording(s, k, m, a, v)
                if not v.is_file():
                    reason = f"Vicon label file {v} is missing"
                    log.warning("DHP19 %s skipped: %s", rec.name, reason)
                    if report is not None:
                        report.append((rec, reason))
                    continue
                out.append(rec)
    return out


# --------------------------------------------------------------------------------------------------
# known problems of the real recordings
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KnownProblem:
    problem: str
    official_handling: str
    source: str


#: (subject, session, movement) -> what is wrong and what the official code does with it (FORMATS 2.8; the
#: comments of Generate_DHP19.m). Not a recording problem but also reported: a label misalignment of camera 1
#: (DHP19 issue #22, open).
KNOWN_BAD: dict[tuple[int, int, int], KnownProblem] = {
    (4, 3, 4): KnownProblem(">700 special events (corrupted recording)",
                            "skipped (numSpecialEvents > 5 -> continue); CorruptRecordingError here",
                            "Generate_DHP19.m case g"),
    (4, 3, 6): KnownProblem(">700 special events (corrupted recording)",
                            "skipped (numSpecialEvents > 5 -> continue); CorruptRecordingError here",
                            "Generate_DHP19.m case g"),
    (14, 5, 3): KnownProblem("no special events (no aedat.data.special field)",
                             "start/stop = first/last event (catch branch)", "Generate_DHP19.m case a"),
    (14, 1, 1): KnownProblem("timestamps wrap (events(end) < events(1))",
                             "start = first special, stop = max(events); events selected between the first event at "
                             "start and the first event at stop", "Generate_DHP19.m, extract_from_aedat.m"),
    (5, 4, 2): KnownProblem("a single special event, closer to the end",
                            "stop = special, start = stop - n (initial special assumed missing)",
                            "Generate_DHP19.m case b"),
    (16, 2, 4): KnownProblem("a single special event, closer to the end",
                             "stop = special, start = stop - n (initial special assumed missing)",
                             "Generate_DHP19.m case b"),
    (4, 5, 7): KnownProblem("4 special events near the start (3 equal, 4th one tick later)",
                            "start = first special, stop = start + n (final special assumed missing)",
                            "Generate_DHP19.m case e"),
    (12, 5, 4): KnownProblem("4 special events near the start (3 equal, 4th one tick later)",
                             "start = first special, stop = start + n (final special assumed missing)",
                             "Generate_DHP19.m case e"),
    (5, 1, 4): KnownProblem("5 special events", "start = first special, stop = last special",
                            "Generate_DHP19.m case f"),
    (5, 2, 4): KnownProblem("5 special events", "start = first special, stop = last special",
                            "Generate_DHP19.m case f"),
    (5, 3, 3): KnownProblem("5 special events", "start = first special, stop = last special",
                            "Generate_DHP19.m case f"),
    (11, 4, 5): KnownProblem("out-of-range addresses (e.g. y = 306)",
                             "events with x > 345, y > 259 or camera > 3 dropped (extract_from_aedat.m); the MATLAB "
                             "import breaks on this file", "DHP19 issue #8"),
    (16, 2, 1): KnownProblem("non-sequential timestamps",
                             "kept by the official MATLAB code; deleted from the hybrid ANN-SNN SNN data",
                             "uzh-rpg/hybrid_ann_snn dataloaders/snn_dataloader/provider.py"),
}
