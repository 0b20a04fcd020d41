"""Resumable, checksummed downloads and path-traversal-safe archive extraction (standard library only).

The three building blocks every dataset fetcher uses:

- :func:`download` streams a URL (or the first working of several mirrors) to ``dest.part``, resumes an
  interrupted transfer with an HTTP ``Range`` + ``If-Range`` request (never splicing two versions of a file),
  retries transient network failures, verifies the
  md5 / sha256 and only then renames the file atomically to ``dest``. A file whose checksum does not match is
  deleted, so a failed run never leaves a file that looks complete.
- :func:`safe_extract` unpacks tar (plain, gz, bz2, xz) and zip archives into a temporary sibling directory,
  refusing any member that could write outside the destination (absolute paths, ``..`` components, any
  symlink or hard link, device files) before the first member is written, and any archive whose members need
  more space than is free; it renames the result into place only when everything succeeded.
- :func:`manual_download_message` phrases the one-paragraph instruction for datasets that cannot be fetched
  automatically (login walls, Box / Google-Drive folders).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import logging
import lzma
import os
import re
import shutil
import socket
import ssl
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from evsnn.errors import ChecksumError, DataMissingError, EvsnnError
from evsnn.util import honour_umask

__all__ = [
    "DownloadError",
    "download",
    "md5sum",
    "sha256sum",
    "file_digests",
    "verify_checksum",
    "safe_extract",
    "manual_download_message",
]

log = logging.getLogger(__name__)

USER_AGENT = "evsnn-downloader/0.1 (+python-urllib)"
_HASH_CHUNK = 1 << 20
#: HTTP status codes worth retrying on the same mirror (server busy / temporary trouble).
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class DownloadError(DataMissingError):
    """No URL of a download could deliver the file (every mirror failed); the message names each URL and why."""


# --------------------------------------------------------------------------------------------- checksums
def file_digests(path: str | os.PathLike, algorithms: Iterable[str] = ("md5", "sha256"),
                 chunk: int = _HASH_CHUNK) -> dict[str, str]:
    """Hex digests of one file for several hash algorithms in a single chunked read."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            for h in hashers.values():
                h.update(block)
    return {name: h.hexdigest() for name, h in hashers.items()}


def md5sum(path: str | os.PathLike, chunk: int = _HASH_CHUNK) -> str:
    """Hex md5 of a file, read in chunks (constant memory for multi-GB archives)."""
    return file_digests(path, ("md5",), chunk)["md5"]


def sha256sum(path: str | os.PathLike, chunk: int = _HASH_CHUNK) -> str:
    """Hex sha256 of a file, read in chunks (constant memory for multi-GB archives)."""
    return file_digests(path, ("sha256",), chunk)["sha256"]


def _expected_digests(md5: str | None, sha256: str | None) -> dict[str, str]:
    expected = {}
    if md5:
        expected["md5"] = md5.strip().lower()
    if sha256:
        expected["sha256"] = sha256.strip().lower()
    return expected


def _first_mismatch(path: Path, expected: Mapping[str, str]) -> tuple[str, str, str] | None:
    """``(algorithm, expected, actual)`` of the first digest of ``path`` that differs, or None when all match."""
    if not expected:
        return None
    actual = file_digests(path, expected.keys())
    for name, want in expected.items():
        if actual[name] != want:
            return name, want, actual[name]
    return None


# ------------------------------------------------------------------------------- recorded checksums (TOFU)
def _expectations(name: str, md5, sha256, record_checksum_to):
    """(record file, what it recorded for ``name``, expected digests): the published md5/sha256, or else the
    sha256 recorded on first download (datasets that publish no checksum)."""
    record = Path(record_checksum_to) if record_checksum_to is not None else None
    recorded = _read_record(record).get(name) if record is not None else None
    expected = _expected_digests(md5, sha256)
    if "sha256" not in expected and recorded and recorded.get("sha256"):
        expected["sha256"] = str(recorded["sha256"]).lower()
    return record, recorded, expected


def _read_record(record: Path | None) -> dict:
    if record is None or not record.exists():
        return {}
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError) as exc:
        raise EvsnnError(f"checksum record {record} is not readable JSON ({exc}); fix or delete it") from exc
    if not isinstance(data, dict):
        raise EvsnnError(f"checksum record {record} must hold a JSON object mapping file names to checksums")
    return data


def _write_record(record: Path, name: str, entry: dict) -> None:
    data = _read_record(record)
    data[name] = entry
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, record)


def verify_checksum(path: str | os.PathLike, *, md5: str | None = None, sha256: str | None = None,
                    record_checksum_to: str | os.PathLike | None = None) -> Path:
    """Check an existing file against md5 / sha256 (or the sha256 recorded in ``record_checksum_to``).

    With a record file and nothing recorded yet for this file name, its sha256 is recorded (trust on first
    use). Raises :class:`~evsnn.errors.ChecksumError` naming the file, the expected and the actual digest.
    """
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(f"{path} does not exist, so its checksum cannot be verified")
    record, recorded, expected = _expectations(path.name, md5, sha256, record_checksum_to)
    bad = _first_mismatch(path, expected)
    if bad is not None:
        raise ChecksumError(f"{path} has {bad[0]} {bad[2]} but {bad[1]} was expected")
    if record is not None and recorded is None:
        _write_record(record, path.name, {"sha256": sha256sum(path), "size": path.stat().st_size, "url": None,
                                          "recorded": "existing file, first seen"})
    return path


# ------------------------------------------------------------------------------------------ the transfer
class _Transient(Exception):
    """A failure worth retrying on the same URL (the partial file is kept for resuming)."""


class _Permanent(Exception):
    """A failure that will not go away by retrying this URL (go to the next mirror)."""


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)


def _int_header(headers, name: str) -> int | None:
    value = headers.get(name) if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _validator_path(part: Path) -> Path:
    """Where the validator (ETag / Last-Modified) of the response that began ``part`` is kept."""
    return part.with_name(part.name + ".validator.json")


def _discard(part: Path) -> None:
    """Delete a partial file and its validator (the next request starts from byte 0)."""
    part.unlink(missing_ok=True)
    _validator_path(part).unlink(missing_ok=True)


def _read_validator(part: Path) -> dict:
    try:
        data = json.loads(_validator_path(part).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_validator(part: Path, url: str, headers) -> None:
    """Keep the strong ETag (or else the Last-Modified date) of a response that starts ``part``; a later resume
    sends it as ``If-Range``, so the server appends only bytes of this same version of the file."""
    etag = (headers.get("ETag") or "").strip() if headers is not None else ""
    modified = (headers.get("Last-Modified") or "").strip() if headers is not None else ""
    if etag.startswith("W/"):
        etag = ""  # a weak ETag is not allowed in If-Range
    if not (etag or modified):
        _validator_path(part).unlink(missing_ok=True)
        return
    _validator_path(part).write_text(json.dumps({"url": url, "etag": etag or None,
                                                 "last_modified": modified or None}) + "\n")


class _NoDowngradeRedirect(urllib.request.HTTPRedirectHandler):
    """Follows redirects, except one that leaves https (a downgrade to plain http, or to another scheme)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = urllib.parse.urljoin(req.full_url, newurl)
        if (urllib.parse.urlsplit(req.full_url).scheme.lower() == "https"
                and urllib.parse.urlsplit(new).scheme.lower() != "https"):
            if fp is not None:
                fp.close()
            raise _Permanent(f"redirected (HTTP {code}) from https to {new}, which is not https; refusing the "
                             "downgrade")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _check_disk(url: str, part: Path, label: str, incoming: int | None, reclaimed: int) -> None:
    """Refuse a body that the file system of ``part`` cannot hold (``reclaimed``: bytes of ``part`` that the
    write replaces)."""
    if incoming is None:
        return
    free = shutil.disk_usage(part.parent).free + reclaimed
    if incoming > free:
        raise EvsnnError(f"refusing to download {label} from {url}: the server announces {incoming} bytes but only "
                         f"{free} bytes are free in {part.parent}")


def _fetch_once(url: str, part: Path, *, resume: bool, chunk: int, timeout: float, progress: bool,
                label: str, checksum: bool = False) -> None:
    """One HTTP(S)/file request that writes (or appends) the body to ``part``.

    A partial file is continued only when the bytes appended are known to belong to the same file: with the
    ``If-Range`` validator saved from the response that began it, or when a checksum (``checksum``) checks the
    result; otherwise it starts again from byte 0. Raises _Transient for failures a retry with resume may fix
    and _Permanent for the rest.
    """
    offset = part.stat().st_size if (resume and part.exists()) else 0
    validator = _read_validator(part) if offset else {}
    if_range = validator.get("etag") or validator.get("last_modified")
    if offset and not if_range and not checksum:
        log.info("%s: nothing tells whether %s's %d bytes come from the same version of the file (no ETag or "
                 "Last-Modified, no checksum); downloading it from byte 0", url, part.name, offset)
        offset = 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if if_range:
            headers["If-Range"] = if_range
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.build_opener(_NoDowngradeRedirect).open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Range not satisfiable: the partial file is already complete, or longer than the remote file.
            match = _UNSATISFIED_RANGE.search(exc.headers.get("Content-Range", "") if exc.headers else "")
            exc.close()
            if match and int(match.group(1)) == offset:
                return
            _discard(part)
            raise _Transient(f"HTTP 416 for a resume at byte {offset}; restarting from byte 0") from exc
        exc.close()
        reason = f"HTTP {exc.code} {exc.reason}"
        if exc.code in _RETRY_STATUS:
            raise _Transient(reason) from exc
        raise _Permanent(reason) from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError, ConnectionResetError, ConnectionAbortedError)):
            raise _Transient(f"connection failed ({reason})") from exc
        # DNS failures, refused connections, TLS errors, unknown schemes: retrying this URL will not help.
        raise _Permanent(f"cannot connect ({reason})") from exc
    except (http.client.HTTPException, OSError) as exc:  # timeouts / resets while reading the status line
        raise _Transient(f"connection failed ({exc!r})") from exc

    with response:
        status = getattr(response, "status", None) or response.getcode() or 200  # file:// URLs have no status
        resp_headers = response.headers
        length = _int_header(resp_headers, "Content-Length")
        if offset and status == 206:
            match = _CONTENT_RANGE.search(resp_headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                _discard(part)
                raise _Transient(f"server answered a resume at byte {offset} with Content-Range "
                                 f"{resp_headers.get('Content-Range')!r}; restarting from byte 0")
            etag = (resp_headers.get("ETag") or "").strip()
            if validator.get("etag") and etag and etag != validator["etag"]:
                _discard(part)
                raise _Transient(f"the file changed on the server (ETag {etag}, the partial file has "
                                 f"{validator['etag']}); restarting from byte 0")
            total = int(match.group(3)) if match.group(3) != "*" else None
            mode = "ab"
            _check_disk(url, part, label, length, 0)
        else:
            if offset:
                log.info("%s answered the Range request with the whole file; downloading %s from byte 0", url, label)
            offset = 0
            total = length
            mode = "wb"
            _check_disk(url, part, label, length, part.stat().st_size if part.exists() else 0)
            _save_validator(part, url, resp_headers)
        received = 0
        try:
            from tqdm.auto import tqdm

            with open(part, mode) as fh, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                              unit_divisor=1024, desc=label, file=sys.stderr,
                                              disable=not progress, leave=False, dynamic_ncols=True) as bar:
                while True:
                    block = response.read(chunk)
                    if not block:
                        break
                    fh.write(block)
                    received += len(block)
                    bar.update(len(block))
                fh.flush()
                os.fsync(fh.fileno())
        except (http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError, ssl.SSLError) as exc:
            # Network trouble mid-body (IncompleteRead, reset, timeout): keep the partial file for a resume.
            # Other OSErrors (disk full, permissions) are not network failures and propagate unchanged.
            raise _Transient(f"transfer interrupted after {offset + received} bytes ({exc!r})") from exc
        # http.client returns b"" instead of raising when the peer closes before Content-Length bytes arrived.
        if length is not None and received < length:
            raise _Transient(f"transfer interrupted: got {received} of {length} bytes "
                             f"(file now {offset + received} bytes)")
        if total is not None and part.stat().st_size != total:
            _discard(part)
            raise _Transient(f"{part.name} has {offset + received} bytes but the server announced {total}; "
                             "restarting from byte 0")


def download(url: str | Sequence[str], dest: str | os.PathLike, *, md5: str | None = None,
             sha256: str | None = None, resume: bool = True, chunk: int = 1 << 20, timeout: float = 60,
             retries: int = 3, progress: bool = True, record_checksum_to: str | os.PathLike | None = None,
             backoff: float = 1.0) -> Path:
    """Download ``url`` (or the first working of several mirror URLs) to ``dest`` and verify its checksum.

    The body is streamed to ``dest.part``. With ``resume`` an existing ``dest.part`` is continued with a
    ``Range: bytes=N-`` request (appended when the server answers 206 Partial Content, restarted from byte 0
    when it answers 200) only when the appended bytes are known to come from the same version of the file:
    the request carries ``If-Range`` with the ETag (or Last-Modified date) of the response that began
    ``dest.part`` (kept in ``dest.part.validator.json``), or a checksum checks the whole file. Without either,
    the download starts again from byte 0. A redirect from https to anything but https is refused, and a body
    whose announced length exceeds the free disk space is refused before a byte is written
    (:class:`~evsnn.errors.EvsnnError`). Interrupted transfers (connection reset, timeout, short read, HTTP 5xx/429) are
    retried up to ``retries`` times per URL, resuming each time and sleeping ``backoff * attempt`` seconds;
    permanent failures (HTTP 4xx, DNS failure, refused connection) move on to the next mirror at once.

    When the file is complete its md5 / sha256 are checked; on a mismatch the ``.part`` file is deleted and
    the next mirror is tried, and if none is left :class:`~evsnn.errors.ChecksumError` is raised naming the
    URL, the file, the expected and the actual digest. On success ``dest.part`` is renamed atomically to
    ``dest``. If ``dest`` already exists and its checksum matches nothing is downloaded (an existing ``dest``
    with no checksum to compare against is trusted); an existing ``dest`` with a wrong checksum is
    replaced once the new download has been verified.

    ``record_checksum_to`` (a JSON file) is for sources that publish no checksum: the sha256 and size of the
    first successful download are recorded there under ``dest``'s file name, and later calls verify ``dest``
    (and any re-download) against that record.

    Returns ``dest`` as a :class:`~pathlib.Path`. Raises :class:`DownloadError` (a
    :class:`~evsnn.errors.DataMissingError`) when every URL failed, naming each URL and its failure.
    """
    urls = [url] if isinstance(url, (str, os.PathLike)) else list(url)
    urls = [os.fspath(u) for u in urls]
    dest = Path(dest)
    if not urls:
        raise DownloadError(f"no URL was given for {dest}")
    record, recorded, expected = _expectations(dest.name, md5, sha256, record_checksum_to)

    if dest.exists():
        if not expected:
            if record is not None and recorded is None:
                _write_record(record, dest.name, {"sha256": sha256sum(dest), "size": dest.stat().st_size,
                                                  "url": None, "recorded": "existing file, first seen"})
            log.info("%s exists and there is no checksum to verify; keeping it", dest)
            return dest
        bad = _first_mismatch(dest, expected)
        if bad is None:
            log.info("%s exists with the expected checksum; nothing to download", dest)
            return dest
        log.warning("%s exists but its %s is %s instead of %s; downloading it again", dest, bad[0], bad[2], bad[1])

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures: list[str] = []
    checksum_error: ChecksumError | None = None
    for u in urls:
        attempt = 0
        fresh_retry_done = False
        while True:
            resumed_from = part.stat().st_size if (resume and part.exists()) else 0
            try:
                _fetch_once(u, part, resume=resume, chunk=chunk, timeout=timeout, progress=progress,
                            label=dest.name, checksum=bool(expected))
            except _Transient as exc:
                attempt += 1
                if attempt > retries:
                    failures.append(f"{u}: {exc} (gave up after {retries} retries)")
                    break
                log.warning("download of %s from %s: %s; retry %d of %d", dest.name, u, exc, attempt, retries)
                if backoff > 0:
                    time.sleep(backoff * attempt)
                continue
            except _Permanent as exc:
                failures.append(f"{u}: {exc}")
                break

            bad = _first_mismatch(part, expected)
            if bad is None:
                os.replace(part, dest)
                _validator_path(part).unlink(missing_ok=True)
                if record is not None and recorded is None:
                    _write_record(record, dest.name, {"sha256": sha256sum(dest), "size": dest.stat().st_size,
                                                      "url": u, "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
                log.info("downloaded %s from %s", dest, u)
                return dest
            _discard(part)
            if resumed_from and not fresh_retry_done:
                # The stale partial file may have come from another version of the file: try once from byte 0.
                fresh_retry_done = True
                log.warning("%s from %s (resumed at byte %d) has a wrong %s; downloading it again from byte 0",
                            dest.name, u, resumed_from, bad[0])
                continue
            algo, want, got = bad
            checksum_error = ChecksumError(
                f"{dest} downloaded from {u} has {algo} {got} but {want} was expected, so it was deleted")
            failures.append(f"{u}: wrong {algo} {got}")
            break

    if checksum_error is not None:
        if len(failures) > 1:
            raise ChecksumError(f"{checksum_error} (every other URL failed as well: {'; '.join(failures)})")
        raise checksum_error
    raise DownloadError(f"could not download {dest.name} to {dest.parent} from any of {len(urls)} URL(s): "
                        + "; ".join(failures))


# ------------------------------------------------------------------------------------------- extraction
def _marker_path(archive: Path, dest_dir: Path) -> Path:
    return dest_dir / f".{archive.name}.extracted.json"


def _bad_name(name: str) -> str | None:
    """Why a member name is unsafe (absolute, ``..``, drive letter), or None when it is fine."""
    if not name:
        return "has an empty name"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if any(part == ".." for part in re.split(r"[\\/]+", name)):
        return "has a '..' path component"
    return None


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    """Refuse a member that is not a plain file or directory with a safe name.

    The dataset archives hold no links, so every symlink and hard link is refused, whatever it points to: a
    chain of links that each look harmless can still reach outside the destination (CVE-2025-4517 and the
    textual checks of older Pythons), and refusing links does not depend on the Python release's tarfile filter.
    """
    why = _bad_name(member.name)
    if why is None:
        if member.issym():
            why = f"is a symlink (to {member.linkname!r}); archives with links are not extracted"
        elif member.islnk():
            why = f"is a hard link (to {member.linkname!r}); archives with links are not extracted"
        elif member.ischr() or member.isblk() or member.isfifo() or member.isdev():
            why = "is a device or FIFO file"
        elif not (member.isreg() or member.isdir()):
            why = f"has the unsupported tar type {member.type!r}"
    if why:
        raise EvsnnError(f"refusing to extract {archive}: member {member.name!r} {why}")


def _tar_filter(archive: Path):
    data_filter = getattr(tarfile, "data_filter", None)  # Python >= 3.11.4 / 3.12

    def _filter(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        _check_tar_member(archive, member)  # first: it never relies on data_filter
        if data_filter is None:
            return member
        try:
            return data_filter(member, path)
        except tarfile.FilterError as exc:
            raise EvsnnError(f"refusing to extract {archive}: member {member.name!r} is unsafe ({exc})") from exc

    return _filter


def _check_free_space(archive: Path, total: int, where: Path) -> None:
    """Refuse an extraction whose members need more bytes than the file system of ``where`` has free."""
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if total > free:
        raise EvsnnError(f"refusing to extract {archive}: its members hold {total} bytes but only {free} bytes are "
                         f"free in {probe}")


def _scan_tar(archive: Path) -> int:
    """Check every member of a tar archive before anything is written; returns the sum of the member sizes."""
    total = 0
    with tarfile.open(archive, mode="r|*") as tar:
        for member in tar:
            _check_tar_member(archive, member)
            total += max(int(member.size), 0)
    return total


def _extract_tar(archive: Path, tmp: Path, progress: bool) -> list[str]:
    from tqdm.auto import tqdm

    names: list[str] = []
    flt = _tar_filter(archive)
    # Stream mode ("r|*"): a sequential pass over a multi-GB compressed archive. Every member was checked by
    # _scan_tar before this pass; the filter checks each one again (the file could have changed in between),
    # and the temporary directory is thrown away if any member is refused.
    with tarfile.open(archive, mode="r|*") as tar, tqdm(desc=f"extract {archive.name}", unit=" files",
                                                        file=sys.stderr, disable=not progress,
                                                        leave=False) as bar:
        def members():
            for member in tar:
                names.append(member.name)
                bar.update(1)
                yield member

        if getattr(tarfile, "data_filter", None) is not None:
            tar.extractall(tmp, members=members(), filter=flt)
        else:  # Python < 3.11.4: no filter argument; links and unsafe names are refused by flt all the same
            for member in members():
                flt(member, str(tmp))
                tar.extract(member, tmp, set_attrs=False)  # no chown/chmod: no setuid bits, no foreign owners
    return names


def _scan_zip(archive: Path, zf: zipfile.ZipFile) -> tuple[list[zipfile.ZipInfo], int]:
    """Check every member of a zip archive (its central directory) before anything is written; returns the
    members and the sum of their uncompressed sizes."""
    infos = zf.infolist()
    total = 0
    for info in infos:
        why = _bad_name(info.filename)
        mode = info.external_attr >> 16
        if why is None and mode:
            if stat.S_ISLNK(mode):
                why = "is a symlink; archives with links are not extracted"
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                why = "is a device or FIFO file"
        if why:
            raise EvsnnError(f"refusing to extract {archive}: member {info.filename!r} {why}")
        total += max(int(info.file_size), 0)
    return infos, total


def _extract_zip(archive: Path, tmp: Path, progress: bool) -> list[str]:
    from tqdm.auto import tqdm

    with zipfile.ZipFile(archive) as zf:
        infos, total = _scan_zip(archive, zf)  # check everything first: zip has a central directory
        _check_free_space(archive, total, tmp.parent)
        for info in tqdm(infos, desc=f"extract {archive.name}", unit=" files", file=sys.stderr,
                         disable=not progress, leave=False):
            zf.extract(info, tmp)
    return [info.filename for info in infos]


def _is_zip(archive: Path) -> bool:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return True
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz", ".gz")):
        return False
    return zipfile.is_zipfile(archive) and not tarfile.is_tarfile(archive)


def _check_links_inside(root: Path, archive: Path) -> None:
    """Defence in depth: after extraction no symlink may resolve outside ``root``."""
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if os.path.commonpath([real_root, real]) != real_root:
                    rel = os.path.relpath(path, root)
                    raise EvsnnError(f"refusing to extract {archive}: member {rel!r} resolves outside the "
                                     f"destination ({real})")


def _normalise_names(names: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        norm = str(PurePosixPath(name.replace("\\", "/")))
        if norm not in (".", ""):
            seen.setdefault(norm, None)
    return list(seen)


def safe_extract(archive: str | os.PathLike, dest_dir: str | os.PathLike, *, progress: bool = True) -> list[Path]:
    """Extract a tar (plain/gz/bz2/xz) or zip archive into ``dest_dir`` without ever writing outside it.

    Any member with an absolute path, a ``..`` component, any symlink or hard link (the datasets' archives hold
    none; links are refused on every Python version, without relying on tarfile's extraction filter), or a
    device/FIFO type makes the whole extraction fail with :class:`~evsnn.errors.EvsnnError` naming the archive
    and the member; every member is checked before the first one is written. So is an archive whose members
    together hold more bytes than the destination's file system has free. Members are written into a
    temporary sibling directory of ``dest_dir`` which is renamed into place only after every member was
    extracted, so a refused member, a corrupt archive or a kill leaves nothing half-extracted. A marker file
    ``dest_dir/.<archive name>.extracted.json`` records a finished extraction; calling again with the same
    archive is then a no-op. Returns the extracted paths (files, directories and links) under ``dest_dir``.
    """
    archive = Path(archive)
    dest_dir = Path(dest_dir)
    if not archive.is_file():
        raise DataMissingError(f"archive {archive} does not exist")
    size = archive.stat().st_size
    marker = _marker_path(archive, dest_dir)
    if marker.exists():
        try:
            info = json.loads(marker.read_text())
            members, tops, recorded_size = info["members"], info["top_level"], info.get("size")
        except (OSError, ValueError, KeyError, TypeError):
            info = None
        if info is not None and all((dest_dir / t).exists() or (dest_dir / t).is_symlink() for t in tops):
            if recorded_size not in (None, size):
                raise EvsnnError(f"{dest_dir} holds an extraction of an earlier {archive.name} ({recorded_size} "
                                 f"bytes, now {size}); delete {', '.join(tops)} and {marker.name} there to "
                                 "extract the new archive")
            log.info("%s was already extracted into %s", archive.name, dest_dir)
            return [dest_dir / m for m in members]
        marker.unlink(missing_ok=True)  # stale marker: the extracted tree was deleted

    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.extracting-", dir=dest_dir.parent))
    honour_umask(tmp, directory=True)  # renamed into place below: not mkdtemp's 0700
    try:
        if _is_zip(archive):
            try:
                names = _extract_zip(archive, tmp, progress)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise EvsnnError(f"{archive} is not a readable zip archive or is truncated ({exc})") from exc
        else:
            try:
                _check_free_space(archive, _scan_tar(archive), tmp.parent)
                names = _extract_tar(archive, tmp, progress)
            except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
                if isinstance(exc, OSError) and exc.errno is not None:
                    raise  # a real I/O error (disk full, permissions), not a corrupt archive
                raise EvsnnError(f"{archive} is not a readable tar archive or is truncated ({exc})") from exc
        _check_links_inside(tmp, archive)
        members = _normalise_names(names)
        tops = sorted(os.listdir(tmp))
        clashes = [t for t in tops if (dest_dir / t).exists() or (dest_dir / t).is_symlink()]
        if clashes:
            raise EvsnnError(f"cannot extract {archive} into {dest_dir}: {', '.join(clashes[:5])} already exist(s) "
                             "there without a completed-extraction marker; delete them and run again")
        marker_info = {"archive": archive.name, "size": size, "top_level": tops, "members": members}
        (tmp / marker.name).write_text(json.dumps(marker_info, indent=1) + "\n")
        if dest_dir.exists() and not any(dest_dir.iterdir()):
            dest_dir.rmdir()
        if not dest_dir.exists():
            os.replace(tmp, dest_dir)  # one atomic rename: the tree and its marker appear together
        else:
            for top in tops:
                os.replace(tmp / top, dest_dir / top)
            os.replace(tmp / marker.name, marker)  # the marker last: it vouches for what precedes it
            tmp.rmdir()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("extracted %d members of %s into %s", len(members), archive.name, dest_dir)
    return [dest_dir / m for m in members]


# ------------------------------------------------------------------------------------- manual downloads
def _join_words(items: Sequence[str], conj: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conj} " + items[-1]


def manual_download_message(name: str, files: Mapping[str, str | None] | Sequence[str],
                            urls: str | Sequence[str], dest_dir: str | os.PathLike, *,
                            rerun: str = "re-run the same command", reason: str | None = None) -> str:
    """The one-paragraph instruction for a dataset (or file) that has to be downloaded by hand.

    ``files`` is a sequence of file names or a mapping file name -> md5 (None when unpublished); ``urls`` the
    page(s) to fetch them from, in order of preference; ``dest_dir`` the folder they must be put in;
    ``rerun`` how to continue afterwards; ``reason`` (optional) why no automatic download happened.
    """
    if isinstance(files, Mapping):
        parts = [f"{f} (md5 {md5})" if md5 else f for f, md5 in files.items()]
        with_md5 = any(files.values())
    else:
        parts, with_md5 = list(files), False
    url_list = [urls] if isinstance(urls, str) else list(urls)
    where = url_list[0] if url_list else "the dataset's official site"
    if len(url_list) > 1:
        where += " (or " + _join_words(url_list[1:], "or") + ")"
    dest = os.fspath(Path(dest_dir)).rstrip(os.sep) + os.sep
    one = len(parts) == 1
    why = f" ({reason})" if reason else ""
    check = (f"; {'it is' if one else 'they are'} then verified against the md5 above and used" if with_md5
             else f"; {'it is' if one else 'they are'} then picked up from there")
    return (f"{name} has to be downloaded by hand{why}: download {_join_words(parts)} from {where}, save "
            f"{'it under this exact name' if one else 'them under these exact names'} in {dest}, and {rerun}"
            f"{check}.")
