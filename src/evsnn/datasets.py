"""Where the real datasets come from, as data, and the fetchers that turn them into verified local trees.

The registry (:data:`REGISTRY`) lists, for each public dataset, every file of the official distribution with
its published checksum (or none, when nothing is published: the first download's sha256 is then recorded)
and every known location, each marked *direct* (a plain HTTP GET returns the file, so it can be downloaded
automatically) or *manual* (a Box / Google-Drive folder or a login page: the user has to fetch it by hand and
is told exactly what, from where and into which folder by :func:`evsnn.download.manual_download_message`).
Sources: reference/FORMATS.md sections 1.1 (DVS128 Gesture) and 3.1 (MVSEC).

Adding a dataset (DHP19 is the next one) means adding one :class:`DatasetSource` entry to :data:`REGISTRY`;
:func:`fetch_remote_file` then handles "already present / download from a direct mirror / ask for a manual
download" for each of its files, and a dataset-specific ``fetch_<name>`` adds extraction and a tree check
(see :func:`fetch_dvsgesture`).
"""
from __future__ import annotations

import csv
import functools
import io
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from evsnn.download import (DownloadError, download, manual_download_message, md5sum, safe_extract,
                            verify_checksum)
from evsnn.errors import ChecksumError, ConfigError, DataMissingError, EvsnnError

__all__ = [
    "Source", "RemoteFile", "DatasetSource", "REGISTRY", "get_dataset",
    "DVSGESTURE_ARCHIVE", "DVSGESTURE_ARCHIVE_MD5", "DVSGESTURE_IBM_BOX_URL", "DVSGESTURE_KTH_MIRROR_URL",
    "dvsgesture_aedat_md5", "dvsgesture_official_split", "dvsgesture_expected_files",
    "fetch_remote_file", "fetch_dvsgesture", "verify_dvsgesture_tree",
]

log = logging.getLogger(__name__)

DIRECT = "direct"
MANUAL = "manual"


@dataclass(frozen=True)
class Source:
    """One location of a file: ``kind`` is ``"direct"`` (plain GET works) or ``"manual"`` (browser only)."""

    url: str
    kind: str = DIRECT
    note: str = ""

    def __post_init__(self):
        if self.kind not in (DIRECT, MANUAL):
            raise ValueError(f"Source kind must be {DIRECT!r} or {MANUAL!r}, not {self.kind!r}")

    @property
    def direct(self) -> bool:
        return self.kind == DIRECT


@dataclass(frozen=True)
class RemoteFile:
    """One file of an official distribution.

    ``subdir`` is the folder (relative to the dataset's download folder) the file is stored in; ``md5`` /
    ``sha256`` are the published checksums (both None: nothing published, record the sha256 on first
    download); ``required`` is False for files the pipeline does not read (licence, readme).
    """

    name: str
    sources: tuple[Source, ...]
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    subdir: str = ""
    required: bool = True
    note: str = ""

    @property
    def has_checksum(self) -> bool:
        return bool(self.md5 or self.sha256)

    def direct_urls(self) -> list[str]:
        return [s.url for s in self.sources if s.direct]

    def manual_urls(self) -> list[str]:
        """Every location, manual ones first (what a person should open in a browser)."""
        return [s.url for s in self.sources if not s.direct] + self.direct_urls()


@dataclass(frozen=True)
class DatasetSource:
    """A dataset's official distribution: its files and where they can be obtained."""

    key: str
    title: str
    homepage: str
    license: str
    files: tuple[RemoteFile, ...]
    note: str = ""
    #: folder (relative to the dataset's data root) that raw downloads go to
    download_subdir: str = "download"

    def file(self, name: str) -> RemoteFile:
        for f in self.files:
            if f.name == name:
                return f
        raise ConfigError(f"{self.title} has no file {name!r}; known files: "
                          f"{', '.join(f.name for f in self.files)}")


# ------------------------------------------------------------------------------------------ DVS Gesture
DVSGESTURE_ARCHIVE = "DvsGesture.tar.gz"
DVSGESTURE_ARCHIVE_MD5 = "8a5c71fb11e24e5ca5b11866ca6c00a1"
DVSGESTURE_IBM_BOX_URL = "https://ibm.ent.box.com/s/3hiq58ww1pbbjrinh367ykfdf60xsfm8/folder/50167556794"
DVSGESTURE_KTH_MIRROR_URL = "https://kth.box.com/shared/static/7fk64kjuit6exwlzbzfetwoa93qsuoy4.gz"
_IBM_BOX = Source(DVSGESTURE_IBM_BOX_URL, MANUAL, "official IBM Box folder (historic page "
                  "http://research.ibm.com/dvsgesture/); browser download only")

DVSGESTURE = DatasetSource(
    key="dvsgesture",
    title="DVS128 Gesture",
    homepage="http://research.ibm.com/dvsgesture/",
    license="CC BY 4.0",
    note="md5s from spikingjelly resource_url_md5(); the KTH mirror (used by norse) serves the same tar "
         "(same md5). Layout follows spikingjelly: root/download/ holds the four files, root/extract/DvsGesture/ "
         "the extracted tree.",
    files=(
        RemoteFile(DVSGESTURE_ARCHIVE, md5=DVSGESTURE_ARCHIVE_MD5, note="about 3 GB, 5 GB extracted",
                   sources=(_IBM_BOX, Source(DVSGESTURE_KTH_MIRROR_URL, DIRECT, "KTH Box mirror (norse)"))),
        RemoteFile("gesture_mapping.csv", md5="109b2ae64a0e1f3ef535b18ad7367fd1", sources=(_IBM_BOX,),
                   required=False),
        RemoteFile("LICENSE.txt", md5="065e10099753156f18f51941e6e44b66", sources=(_IBM_BOX,), required=False),
        RemoteFile("README.txt", md5="a0663d3b1d8307c329a43d949ee32d19", sources=(_IBM_BOX,), required=False),
    ),
)

# ------------------------------------------------------------------------------------------------ MVSEC
MVSEC_BASE_URL = "https://visiondata.cis.upenn.edu/mvsec/"  # https: no dataset byte travels over plain http
#: Google-Drive folders named on the MVSEC download page (daniilidis-group.github.io/mvsec/download/)
MVSEC_HDF5_DRIVE = "https://drive.google.com/open?id=1rwyRk26wtWeRgrAx_fgPc-ubUzTFThkV"
MVSEC_BAG_DRIVE = "https://drive.google.com/drive/folders/1gDy2PwVOu_FPOsEZjojdWEB2ZHmpio8D?usp=sharing"

#: ROS-bag md5 (data, gt) per sequence, from tonic's mvsec.py (FORMATS 3.1)
_MVSEC_BAG_MD5: dict[str, tuple[str, str]] = {
    "indoor_flying1": ("fd01f35eb52a754e8195d478ed2a00a2", "277b97ad46f9dba3896f651ca47297aa"),
    "indoor_flying2": ("015ac75086b248167e9602b72485e0eb", "3c7ba64cd7bede77b1809cc151e54ed2"),
    "indoor_flying3": ("fda3408d3c72b2d7445540e5bdbd6396", "cae5648c84ec09d0316a8d4805dee62e"),
    "indoor_flying4": ("30ba3a744dcd4408fc4102e88c636acc", "f050c886fb34f3890fcf85680e267a21"),
    "outdoor_day1": ("7438c34b71d08ff38f52cef68834e9be", "36ec3dcd0a222c4c2102641a2dc91ff0"),
    "outdoor_day2": ("536d20bc59720b995df49f925f96b74d", "69fb399411d7098b3e2cf3850f593e7b"),
}


def _mvsec_files() -> tuple[RemoteFile, ...]:
    files: list[RemoteFile] = []
    scenes = sorted({seq.rstrip("0123456789") for seq in _MVSEC_BAG_MD5})
    for scene in scenes:
        files.append(RemoteFile(f"{scene}_calib.zip", subdir=scene,
                                sources=(Source(f"{MVSEC_BASE_URL}{scene}/{scene}_calib.zip"),),
                                note="no published checksum: sha256 recorded on first download"))
    for seq, (data_md5, gt_md5) in _MVSEC_BAG_MD5.items():
        scene = seq.rstrip("0123456789")
        for kind, md5 in (("data", data_md5), ("gt", gt_md5)):
            files.append(RemoteFile(
                f"{seq}_{kind}.bag", md5=md5, subdir=scene, required=False,
                sources=(Source(f"{MVSEC_BASE_URL}{scene}/{seq}_{kind}.bag"),
                         Source(MVSEC_BAG_DRIVE, MANUAL, "Google-Drive copy named on the MVSEC download page"))))
            files.append(RemoteFile(
                f"{seq}_{kind}.hdf5", subdir=scene,
                note="no published checksum: sha256 recorded on first download; the direct URL follows the "
                     "bag pattern and is UNVERIFIED (the download page links the hdf5 files via Google Drive)",
                sources=(Source(f"{MVSEC_BASE_URL}{scene}/{seq}_{kind}.hdf5", DIRECT, "UNVERIFIED URL pattern"),
                         Source(MVSEC_HDF5_DRIVE, MANUAL, "HDF5 folder named on the MVSEC download page"))))
    return tuple(files)


MVSEC = DatasetSource(
    key="mvsec",
    title="MVSEC",
    homepage="https://daniilidis-group.github.io/mvsec/",
    license="CC BY-SA 4.0 (see the MVSEC site)",
    note="the pipeline reads the hdf5 files; the ROS bags (with tonic's md5) are listed for completeness",
    files=_mvsec_files(),
)

#: focal length x baseline (px·m) of the rectified stereo pair per scene ([DDES], FORMATS 3.5); disparity = fB / depth
MVSEC_FB: dict[str, float] = {"indoor_flying": 19.941772, "outdoor_day": 19.635287, "outdoor_night": 19.651191}
#: depth-map indices of the benchmark's test frames per sequence ([DDES] dataset.py, FORMATS 3.5): range(start, stop)
MVSEC_TEST_FRAMES: dict[str, tuple[int, int]] = {
    "indoor_flying1": (140, 1201), "indoor_flying2": (120, 1421), "indoor_flying3": (73, 1616),
    "indoor_flying4": (190, 290)}
#: depth-map indices kept for training ([DDES] training filter if1 80-1259, if2 160-1579, if3 125-1814)
MVSEC_TRAIN_FRAMES: dict[str, tuple[int, int]] = {
    "indoor_flying1": (80, 1260), "indoor_flying2": (160, 1580), "indoor_flying3": (125, 1815)}
#: the indoor_flying split protocols: train / test sequences (split 1 = test if1, split 2 = test if2, split 3 = test if3)
MVSEC_SPLITS: dict[int, dict[str, tuple[str, ...]]] = {
    1: {"train": ("indoor_flying2", "indoor_flying3"), "test": ("indoor_flying1",)},
    2: {"train": ("indoor_flying1", "indoor_flying3"), "test": ("indoor_flying2",)},
    3: {"train": ("indoor_flying1", "indoor_flying2"), "test": ("indoor_flying3",)},
}


def mvsec_split(split: int) -> dict[str, tuple[str, ...]]:
    """Train / test sequences of an indoor_flying split protocol; ConfigError naming the known splits otherwise."""
    try:
        return MVSEC_SPLITS[int(split)]
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"MVSEC split {split!r} is not a known protocol; known splits: "
                          f"{', '.join(map(str, sorted(MVSEC_SPLITS)))} (split 1 = test indoor_flying1, "
                          "train indoor_flying2+3; split 3 = test indoor_flying3, train indoor_flying1+2)") from None


def mvsec_frame_range(sequence: str, role: str) -> tuple[int, int]:
    """``(start, stop)`` depth indices of a real sequence for ``role`` ``"train"`` / ``"test"`` (FORMATS 3.5)."""
    table = MVSEC_TEST_FRAMES if role == "test" else MVSEC_TRAIN_FRAMES
    if sequence not in table:
        raise ConfigError(f"MVSEC has no published {role} frame range for {sequence!r}; known: {', '.join(table)}")
    return table[sequence]


# DHP19 goes here: DatasetSource(key="dhp19", title="DHP19", homepage="https://sites.google.com/view/dhp19",
# files=(RemoteFile("DVS_movies...", sources=(Source(<url>, MANUAL),)), ...)) once its file list is pinned down.

#: every dataset with a real download, by key
REGISTRY: dict[str, DatasetSource] = {d.key: d for d in (DVSGESTURE, MVSEC)}


def get_dataset(key: str) -> DatasetSource:
    """The registry entry of a dataset; :class:`~evsnn.errors.ConfigError` naming the known keys otherwise."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise ConfigError(f"unknown dataset {key!r}; known datasets: {', '.join(sorted(REGISTRY))}") from None


# ------------------------------------------------------------------------------- DVS Gesture md5 table
# The table ships inside the package: src/evsnn/resources/dvsgesture_aedat_md5.csv (a copy of
# reference/dvsgesture_aedat_md5.csv). Package data note for pyproject.toml:
#   [tool.setuptools.package-data]
#   evsnn = ["resources/*.csv"]
_AEDAT_TABLE = "dvsgesture_aedat_md5.csv"


@functools.lru_cache(maxsize=1)
def _aedat_table() -> tuple[tuple[str, str, str], ...]:
    text = resources.files("evsnn").joinpath("resources", _AEDAT_TABLE).read_text(encoding="utf-8")
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        rows.append((row["filename"].strip(), row["md5"].strip().lower(), row["official_split"].strip()))
    if len(rows) != 122:
        raise EvsnnError(f"package file evsnn/resources/{_AEDAT_TABLE} lists {len(rows)} recordings instead of 122; "
                         "reinstall evsnn")
    return tuple(rows)


def dvsgesture_aedat_md5() -> dict[str, str]:
    """md5 of each of the 122 DVS Gesture ``.aedat`` recordings, keyed by file name (e.g. ``user01_lab.aedat``)."""
    return {name: md5 for name, md5, _ in _aedat_table()}


def dvsgesture_official_split() -> dict[str, str]:
    """Official split (``"train"`` for user01-23, ``"test"`` for user24-29) of each ``.aedat`` file name."""
    return {name: split for name, _, split in _aedat_table()}


def dvsgesture_expected_files() -> list[str]:
    """Every file a complete ``DvsGesture/`` folder holds: 122 ``.aedat``, their ``_labels.csv``, two trial lists."""
    names = []
    for aedat in dvsgesture_aedat_md5():
        names += [aedat, aedat[: -len(".aedat")] + "_labels.csv"]
    return names + ["trials_to_train.txt", "trials_to_test.txt"]


# ---------------------------------------------------------------------------------------------- fetching
_UNSET = object()


def fetch_remote_file(dataset: DatasetSource, remote: RemoteFile, download_dir: str | os.PathLike, *,
                      urls: Sequence[str] | None = None, md5=_UNSET, allow_download: bool = True,
                      record_checksum_to: str | os.PathLike | None = None,
                      manual_files: Mapping[str, str | None] | None = None, progress: bool = True,
                      timeout: float = 60, retries: int = 3, backoff: float = 1.0) -> Path:
    """Make one file of a distribution present and verified in ``download_dir/remote.subdir``; return its path.

    A file already there (placed by hand or downloaded earlier) is verified against its checksum and kept.
    Otherwise, when ``allow_download`` is on, the direct sources (or ``urls``, which override them) are tried
    in order. If the file cannot be obtained, :class:`~evsnn.errors.DataMissingError` carries the manual
    download instructions (what to fetch, from where, into which folder; ``manual_files``, name -> md5,
    replaces the single file in that message). ``md5`` overrides the registry checksum (tests serve synthetic
    archives). ``record_checksum_to`` (JSON) records / verifies the sha256 of files with no published checksum.
    A hand-placed file with the wrong checksum raises :class:`~evsnn.errors.ChecksumError` when it cannot be
    downloaded again, and is replaced by a verified download otherwise.
    """
    expected_md5 = remote.md5 if md5 is _UNSET else md5
    target_dir = Path(download_dir) / remote.subdir if remote.subdir else Path(download_dir)
    target = target_dir / remote.name
    files = manual_files if manual_files is not None else {remote.name: expected_md5 or remote.sha256}
    direct = list(urls) if urls is not None else remote.direct_urls()

    def manual(reason: str | None) -> str:
        return manual_download_message(dataset.title, files, remote.manual_urls(), target_dir, reason=reason)

    if target.exists() and not (allow_download and direct):
        try:
            return verify_checksum(target, md5=expected_md5, sha256=remote.sha256,
                                   record_checksum_to=record_checksum_to)
        except ChecksumError as exc:
            raise ChecksumError(manual(f"{exc}")) from exc
    if not target.exists():
        if not allow_download:
            raise DataMissingError(manual(f"{target} is missing and automatic download is switched off"))
        if not direct:
            raise DataMissingError(manual(f"{target} is missing and has no direct download"))
    try:
        return download(direct, target, md5=expected_md5, sha256=remote.sha256,
                        record_checksum_to=record_checksum_to, progress=progress, timeout=timeout,
                        retries=retries, backoff=backoff)
    except (DownloadError, ChecksumError) as exc:
        raise DataMissingError(manual(f"automatic download failed: {exc}")) from exc


def verify_dvsgesture_tree(directory: str | os.PathLike, full_md5: bool = False, *,
                           expected_files: Iterable[str] | None = None,
                           expected_md5: Mapping[str, str] | None = None, progress: bool = False) -> Path:
    """Check that an extracted ``DvsGesture/`` folder is complete; return it.

    By default every one of the 122 official ``.aedat`` recordings, its ``_labels.csv`` and both trial
    lists must exist; ``expected_files`` (names relative to ``directory``) replaces that list for synthetic
    trees. With ``full_md5`` the recordings are also hashed and compared with the published md5 table (or
    ``expected_md5``, file name -> md5, for synthetic trees). Raises
    :class:`~evsnn.errors.DataMissingError` listing the first missing files, or
    :class:`~evsnn.errors.ChecksumError` listing the first corrupt ones.
    """
    directory = Path(directory)
    expected = list(expected_files) if expected_files is not None else dvsgesture_expected_files()
    if not directory.is_dir():
        raise DataMissingError(f"DVS128 Gesture folder {directory} does not exist; extract {DVSGESTURE_ARCHIVE} "
                               "there (evsnn.datasets.fetch_dvsgesture does it)")
    missing = [name for name in expected if not (directory / name).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DataMissingError(f"DVS128 Gesture folder {directory} lacks {len(missing)} of its {len(expected)} "
                               f"expected files ({shown}); extract {DVSGESTURE_ARCHIVE} again or fetch it anew")
    if full_md5:
        table = dict(expected_md5) if expected_md5 is not None else (
            dvsgesture_aedat_md5() if expected_files is None else {})
        from tqdm.auto import tqdm

        bad = []
        for name, want in tqdm(sorted(table.items()), desc="md5 DvsGesture", unit=" files", disable=not progress):
            got = md5sum(directory / name)
            if got != want.lower():
                bad.append(f"{name} (md5 {got}, expected {want})")
        if bad:
            shown = "; ".join(bad[:3]) + ("; ..." if len(bad) > 3 else "")
            raise ChecksumError(f"{len(bad)} recording(s) in {directory} are corrupt: {shown}; delete the folder "
                                f"and extract {DVSGESTURE_ARCHIVE} again")
    return directory


def _check_optional_files(download_dir: Path) -> None:
    for remote in DVSGESTURE.files:
        path = download_dir / remote.name
        if remote.required or not path.is_file() or not remote.md5:
            continue
        got = md5sum(path)
        if got != remote.md5:
            log.warning("%s has md5 %s but %s was expected (not needed by the pipeline; replace it from %s)",
                        path, got, remote.md5, DVSGESTURE_IBM_BOX_URL)


def fetch_dvsgesture(dest_root: str | os.PathLike, *, urls: Sequence[str] | None = None,
                     allow_download: bool = True, md5: str | None = DVSGESTURE_ARCHIVE_MD5,
                     expected_files: Iterable[str] | None = None, expected_md5: Mapping[str, str] | None = None,
                     full_md5: bool = False, progress: bool = True, timeout: float = 60, retries: int = 3,
                     backoff: float = 1.0) -> Path:
    """Make the DVS128 Gesture tree available under ``dest_root`` (spikingjelly's layout); return its folder.

    ``dest_root/download/`` receives ``DvsGesture.tar.gz`` and ``dest_root/extract/DvsGesture/`` the
    extracted recordings. A complete extracted tree is used as is. Otherwise an archive placed in
    ``download/`` by hand is verified (md5), or, with ``allow_download``, fetched from the direct mirrors
    (``urls`` overrides them); if that is impossible :class:`~evsnn.errors.DataMissingError` says what to
    download from the IBM Box folder and where to put it. The archive is then extracted with path-traversal
    protection and the tree checked by :func:`verify_dvsgesture_tree` (``expected_files``, ``expected_md5``
    and ``full_md5`` are passed on; ``md5`` overrides the archive checksum, both for synthetic archives).
    """
    dest_root = Path(dest_root)
    download_dir = dest_root / DVSGESTURE.download_subdir
    extract_dir = dest_root / "extract"
    tree = extract_dir / "DvsGesture"
    expected_files = list(expected_files) if expected_files is not None else None
    download_dir.mkdir(parents=True, exist_ok=True)

    if tree.is_dir():
        try:
            return verify_dvsgesture_tree(tree, full_md5, expected_files=expected_files,
                                          expected_md5=expected_md5, progress=progress)
        except DataMissingError:
            log.info("%s is incomplete; extracting it from %s", tree, DVSGESTURE_ARCHIVE)

    remote = DVSGESTURE.file(DVSGESTURE_ARCHIVE)
    # The manual message names all four files of the official folder, as spikingjelly expects them together.
    manual_files = {f.name: (md5 if f is remote else f.md5) for f in DVSGESTURE.files}
    archive = fetch_remote_file(DVSGESTURE, remote, download_dir, urls=urls, md5=md5,
                                allow_download=allow_download, manual_files=manual_files, progress=progress,
                                timeout=timeout, retries=retries, backoff=backoff)
    _check_optional_files(download_dir)

    safe_extract(archive, extract_dir, progress=progress)
    return verify_dvsgesture_tree(tree, full_md5, expected_files=expected_files, expected_md5=expected_md5,
                                  progress=progress)


# ------------------------------------------------------------------------------------------ MVSEC fetching
__all__ += ["MVSEC", "MVSEC_BASE_URL", "MVSEC_FB", "MVSEC_TEST_FRAMES", "MVSEC_TRAIN_FRAMES", "MVSEC_SPLITS",
            "mvsec_split", "mvsec_frame_range", "mvsec_files_for", "fetch_mvsec"]

MVSEC_DEPTH_SEQUENCES = ("indoor_flying1", "indoor_flying2", "indoor_flying3")


def mvsec_files_for(sequences: Iterable[str]) -> list[RemoteFile]:
    """The registry files the pipeline reads for ``sequences``: each scene's calibration zip, then each sequence's
    ``_data.hdf5`` and ``_gt.hdf5``."""
    sequences = list(sequences)
    scenes = list(dict.fromkeys(seq.rstrip("0123456789") for seq in sequences))
    return ([MVSEC.file(f"{scene}_calib.zip") for scene in scenes]
            + [MVSEC.file(f"{seq}_{kind}.hdf5") for seq in sequences for kind in ("data", "gt")])


def fetch_mvsec(dest_root: str | os.PathLike, sequences: Iterable[str] = MVSEC_DEPTH_SEQUENCES, *,
                urls: Sequence[str] | None = None, allow_download: bool = True,
                record_checksum_to: str | os.PathLike | None = None, progress: bool = True, timeout: float = 60,
                retries: int = 3, backoff: float = 1.0) -> Path:
    """Make the MVSEC HDF5 files of ``sequences`` and their scenes' calibration available; return the tree root.

    Layout (the server's): ``dest_root/download/{scene}/{seq}_data.hdf5``, ``{seq}_gt.hdf5``,
    ``{scene}_calib.zip``, the zip extracted (path-traversal safe) into ``{scene}/{scene}_calib/``. MVSEC publishes
    no checksum of these files: the sha256 of each is recorded on first download (or first sight of a file placed
    by hand) in ``record_checksum_to`` (default ``dest_root/download/mvsec_sha256.json``) and verified on every
    later call. ``urls`` replaces the mirrors by base URLs: file ``f`` of scene ``s`` is fetched from
    ``{base}{s}/{f}`` (a local cache, a test server). Files that cannot be obtained are collected and reported in
    one :class:`~evsnn.errors.DataMissingError`: what to download, from where (the HDF5 Google-Drive folder of the
    MVSEC download page) and into which folder.
    """
    dest_root = Path(dest_root)
    download_dir = dest_root / MVSEC.download_subdir
    record = Path(record_checksum_to) if record_checksum_to is not None else download_dir / "mvsec_sha256.json"
    missing: dict[Path, list[tuple[RemoteFile, str]]] = {}
    got: dict[str, Path] = {}
    for remote in mvsec_files_for(sequences):
        remote_urls = None
        if urls:
            remote_urls = [f"{base.rstrip('/')}/{remote.subdir}/{remote.name}" for base in urls]
        try:
            got[remote.name] = fetch_remote_file(MVSEC, remote, download_dir, urls=remote_urls,
                                                 allow_download=allow_download, record_checksum_to=record,
                                                 progress=progress, timeout=timeout, retries=retries,
                                                 backoff=backoff)
        except DataMissingError as exc:
            missing.setdefault(download_dir / remote.subdir, []).append((remote, str(exc)))
    if missing:
        msgs = []
        for folder, items in missing.items():
            names = {r.name: None for r, _ in items}
            where = list(dict.fromkeys(u for r, _ in items for u in r.manual_urls()))
            reason = f"{len(items)} file(s) could not be obtained automatically"
            msgs.append(manual_download_message(MVSEC.title, names, where, folder, reason=reason))
        raise DataMissingError(" ".join(msgs))
    for name, path in got.items():
        if name.endswith("_calib.zip"):
            safe_extract(path, path.parent / name[: -len(".zip")], progress=progress)
    return download_dir
