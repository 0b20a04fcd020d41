"""Downloads, safe extraction and the DVS Gesture fetcher, against a local HTTP server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from evsnn import datasets
from evsnn.datasets import (DVSGESTURE_ARCHIVE_MD5, DVSGESTURE_IBM_BOX_URL, DVSGESTURE_KTH_MIRROR_URL,
                            fetch_dvsgesture, verify_dvsgesture_tree)
from evsnn.download import (DownloadError, download, manual_download_message, md5sum, safe_extract,
                            sha256sum, verify_checksum)
from evsnn.errors import ChecksumError, DataMissingError, EvsnnError


# ------------------------------------------------------------------------------------------ test server
class ServerState:
    """What the test server serves and how it misbehaves; every request is logged as (path, Range header)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}  # path -> bytes sent before the connection is cut (1st request)
        self.ignore_range: set[str] = set()
        self.not_found: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests_for(self, path: str) -> list[str | None]:
        with self.lock:
            return [rng for p, rng in self.requests if p == path]


class RangeHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server naming
        state: ServerState = self.server.state
        rng = self.headers.get("Range")
        with state.lock:
            earlier = sum(1 for p, _ in state.requests if p == self.path)
            state.requests.append((self.path, rng))
        if self.path in state.not_found or self.path not in state.files:
            self.send_error(404, "Not Found")
            return
        data = state.files[self.path]
        start, status = 0, 200
        if rng and self.path not in state.ignore_range:
            start = int(rng.strip().removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        cut = state.cut_after.get(self.path)
        if cut is not None and earlier == 0:
            self.wfile.write(body[:cut])  # announce the full length, send K bytes, then hang up
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server():
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.daemon_threads = False  # server_close() then joins every request thread
    httpd.block_on_close = True
    httpd.state = state
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


@pytest.fixture
def dead_url():
    """A URL on a local port where nothing listens (connection refused at once)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/DvsGesture.tar.gz"


def payload(n: int, seed: int = 0) -> bytes:
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ---------------------------------------------------------------------------------------------- download
def test_resume_after_cut_connection(server, tmp_path):
    data = payload(300_000)
    server.files["/f.bin"] = data
    server.cut_after["/f.bin"] = 100_000
    dest = tmp_path / "f.bin"
    out = download(server.url("/f.bin"), dest, md5=md5(data), chunk=16_384, backoff=0, progress=False)
    assert out == dest and dest.read_bytes() == data
    assert not (tmp_path / "f.bin.part").exists()
    ranges = server.requests_for("/f.bin")
    assert ranges == [None, "bytes=100000-"]


def test_resume_existing_part_and_progress_bar(server, tmp_path, capsys):
    data = payload(50_000, seed=1)
    server.files["/g.bin"] = data
    dest = tmp_path / "g.bin"
    (tmp_path / "g.bin.part").write_bytes(data[:20_000])
    download(server.url("/g.bin"), dest, sha256=hashlib.sha256(data).hexdigest(), progress=True)
    assert dest.read_bytes() == data
    assert server.requests_for("/g.bin") == ["bytes=20000-"]
    assert "g.bin" in capsys.readouterr().err  # tqdm wrote to stderr


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    data = payload(40_000, seed=2)
    server.files["/h.bin"] = data
    server.ignore_range.add("/h.bin")
    dest = tmp_path / "h.bin"
    (tmp_path / "h.bin.part").write_bytes(b"stale bytes of some other file")
    download(server.url("/h.bin"), dest, md5=md5(data), progress=False)
    assert dest.read_bytes() == data
    assert server.requests_for("/h.bin") == ["bytes=30-"]


def test_complete_part_answered_with_416(server, tmp_path):
    data = payload(10_000, seed=3)
    server.files["/c.bin"] = data
    dest = tmp_path / "c.bin"
    (tmp_path / "c.bin.part").write_bytes(data)
    download(server.url("/c.bin"), dest, md5=md5(data), progress=False)
    assert dest.read_bytes() == data
    assert server.requests_for("/c.bin") == ["bytes=10000-"]


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    data = payload(30_000, seed=4)
    server.files["/w.bin"] = data
    dest = tmp_path / "w.bin"
    with pytest.raises(ChecksumError) as err:
        download(server.url("/w.bin"), dest, md5="0" * 32, progress=False)
    msg = str(err.value)
    assert server.url("/w.bin") in msg and "w.bin" in msg and "0" * 32 in msg and md5(data) in msg
    assert not dest.exists() and not (tmp_path / "w.bin.part").exists()


def test_mirror_fallback(server, tmp_path, dead_url):
    data = payload(20_000, seed=5)
    server.files["/a/m.bin"] = data
    server.files["/b/m.bin"] = data
    server.not_found.add("/a/m.bin")
    dest = tmp_path / "m.bin"
    download([dead_url, server.url("/a/m.bin"), server.url("/b/m.bin")], dest, md5=md5(data), progress=False)
    assert dest.read_bytes() == data
    assert server.requests_for("/a/m.bin") == [None] and server.requests_for("/b/m.bin") == [None]


def test_all_mirrors_failing_names_every_url(server, tmp_path, dead_url):
    dest = tmp_path / "x.bin"
    with pytest.raises(DownloadError) as err:
        download([dead_url, server.url("/missing.bin")], dest, md5="1" * 32, progress=False)
    assert isinstance(err.value, DataMissingError)
    assert dead_url in str(err.value) and "404" in str(err.value)
    assert not dest.exists() and not (tmp_path / "x.bin.part").exists()


def test_persistent_cuts_give_up_after_retries(server, tmp_path):
    data = payload(20_000, seed=6)
    server.files["/p.bin"] = data
    server.ignore_range.add("/p.bin")
    server.cut_after["/p.bin"] = 1000
    # Only the first request is cut; with retries=0 that one failure is final.
    with pytest.raises(DownloadError, match="gave up after 0 retries"):
        download(server.url("/p.bin"), tmp_path / "p.bin", retries=0, backoff=0, progress=False)
    # The partial file is kept for a later resume, but there is no file that looks complete.
    assert not (tmp_path / "p.bin").exists() and (tmp_path / "p.bin.part").stat().st_size == 1000


def test_present_file_is_not_downloaded_again(server, tmp_path):
    data = payload(5_000, seed=7)
    server.files["/k.bin"] = data
    dest = tmp_path / "k.bin"
    dest.write_bytes(data)
    download(server.url("/k.bin"), dest, md5=md5(data), progress=False)
    assert server.requests_for("/k.bin") == []
    # A present file with the wrong checksum is replaced by a verified download.
    dest.write_bytes(b"corrupt")
    download(server.url("/k.bin"), dest, md5=md5(data), progress=False)
    assert dest.read_bytes() == data and server.requests_for("/k.bin") == [None]


def test_recorded_checksum_when_none_is_published(server, tmp_path):
    data = payload(8_000, seed=8)
    server.files["/seq_data.hdf5"] = data
    record = tmp_path / "checksums.json"
    dest = tmp_path / "seq_data.hdf5"
    download(server.url("/seq_data.hdf5"), dest, record_checksum_to=record, progress=False)
    entry = json.loads(record.read_text())["seq_data.hdf5"]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size"] == len(data)
    download(server.url("/seq_data.hdf5"), dest, record_checksum_to=record, progress=False)
    assert len(server.requests_for("/seq_data.hdf5")) == 1
    verify_checksum(dest, record_checksum_to=record)
    # The remote file changes: a fresh download no longer matches what was recorded.
    dest.unlink()
    server.files["/seq_data.hdf5"] = payload(8_000, seed=9)
    with pytest.raises(ChecksumError, match=entry["sha256"]):
        download(server.url("/seq_data.hdf5"), dest, record_checksum_to=record, progress=False)
    assert not dest.exists() and not (tmp_path / "seq_data.hdf5.part").exists()


def test_hash_helpers(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"abc")
    assert md5sum(p, chunk=1) == md5(b"abc")
    assert sha256sum(p) == hashlib.sha256(b"abc").hexdigest()
    with pytest.raises(ChecksumError, match=str(p)):
        verify_checksum(p, md5="f" * 32)


# ------------------------------------------------------------------------------------------- extraction
def make_tar(path: Path, members, mode: str = "w:gz") -> Path:
    """members: (name, bytes) for files, or ready TarInfo objects (links, devices, directories)."""
    with tarfile.open(path, mode) as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                name, data = m
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def assert_nothing_extracted(dest: Path):
    assert not dest.exists() or not any(dest.iterdir())
    assert not [p for p in dest.parent.iterdir() if ".extracting-" in p.name]
    assert not (dest.parent / "evil").exists()


@pytest.mark.parametrize("members, bad", [
    ([("ok/a.txt", b"a"), ("../evil", b"x")], "../evil"),
    ([("ok/a.txt", b"a"), ("/abs/path", b"x")], "/abs/path"),
    ([("ok/a.txt", b"a"), link("ok/link", "../../evil")], "ok/link"),
    ([("ok/a.txt", b"a"), link("ok/abs", "/etc/passwd")], "ok/abs"),
    ([("ok/a.txt", b"a"), link("ok/hard", "../evil", tarfile.LNKTYPE)], "ok/hard"),
    ([("ok/a.txt", b"a"), link("ok/dev", "", tarfile.CHRTYPE)], "ok/dev"),
])
def test_unsafe_tar_is_refused(tmp_path, members, bad):
    archive = make_tar(tmp_path / "bad.tar.gz", members)
    dest = tmp_path / "out" / "dest"
    with pytest.raises(EvsnnError) as err:
        safe_extract(archive, dest, progress=False)
    assert "bad.tar.gz" in str(err.value) and repr(bad) in str(err.value)
    assert_nothing_extracted(dest)


def test_unsafe_zip_is_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok/a.txt", b"a")
        zf.writestr("ok/../../evil", b"x")
    dest = tmp_path / "out" / "dest"
    with pytest.raises(EvsnnError, match=r"bad\.zip.*'ok/\.\./\.\./evil'"):
        safe_extract(archive, dest, progress=False)
    assert_nothing_extracted(dest)


@pytest.mark.parametrize("mode, suffix", [("w:gz", ".tar.gz"), ("w:bz2", ".tar.bz2"), ("w:xz", ".tar.xz"),
                                          ("w", ".tar"), ("zip", ".zip")])
def test_normal_archive_extracts_once(tmp_path, mode, suffix):
    files = {"top/a.txt": b"alpha", "top/sub/b.bin": payload(3000), "top/c.txt": b"gamma"}
    archive = tmp_path / f"good{suffix}"
    if mode == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    else:
        make_tar(archive, list(files.items()), mode)
    dest = tmp_path / "extract"
    dest.mkdir()
    (dest / "unrelated.txt").write_text("kept")  # an existing destination folder is merged into
    paths = safe_extract(archive, dest, progress=False)
    for name, data in files.items():
        assert (dest / name).read_bytes() == data and dest / name in paths
    assert (dest / "unrelated.txt").read_text() == "kept"
    assert not [p for p in tmp_path.iterdir() if ".extracting-" in p.name]
    # Second call: the marker makes it a no-op (a local edit survives).
    (dest / "top/a.txt").write_bytes(b"edited")
    assert safe_extract(archive, dest, progress=False) == paths
    assert (dest / "top/a.txt").read_bytes() == b"edited"


def test_truncated_archive_leaves_nothing(tmp_path):
    good = make_tar(tmp_path / "t.tar.gz", [("top/a.bin", payload(200_000))])
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(EvsnnError, match="broken.tar.gz"):
        safe_extract(broken, tmp_path / "dest", progress=False)
    assert_nothing_extracted(tmp_path / "dest")


# ------------------------------------------------------------------------------------------ DVS Gesture
SYNTH_AEDAT = ["user01_fluorescent.aedat", "user01_lab.aedat", "user24_led.aedat"]


def synthetic_dvsgesture(tmp_path: Path):
    """A small DvsGesture.tar.gz in the real layout; returns (bytes, expected file list, md5 table)."""
    members, table = [], {}
    for i, name in enumerate(SYNTH_AEDAT):
        body = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n" + payload(2000, seed=i)
        members.append((f"DvsGesture/{name}", body))
        members.append((f"DvsGesture/{name[:-6]}_labels.csv",
                        b"class,startTime_usec,endTime_usec\n1,0,1000\n"))
        table[name] = md5(body)
    members.append(("DvsGesture/trials_to_train.txt", b"user01_fluorescent.aedat\nuser01_lab.aedat\n"))
    members.append(("DvsGesture/trials_to_test.txt", b"user24_led.aedat\n"))
    archive = make_tar(tmp_path / "src.tar.gz", members)
    expected = [m[0].removeprefix("DvsGesture/") for m in members]
    return archive.read_bytes(), expected, table


def test_fetch_dvsgesture_end_to_end(server, tmp_path, dead_url):
    data, expected, table = synthetic_dvsgesture(tmp_path)
    server.files["/DvsGesture.tar.gz"] = data
    root = tmp_path / "dvsg"
    kw = dict(md5=md5(data), expected_files=expected, expected_md5=table, full_md5=True, progress=False)
    tree = fetch_dvsgesture(root, urls=[dead_url, server.url("/DvsGesture.tar.gz")], **kw)
    assert tree == root / "extract" / "DvsGesture"
    assert (root / "download" / "DvsGesture.tar.gz").read_bytes() == data
    assert (tree / "trials_to_test.txt").read_text() == "user24_led.aedat\n"
    assert len(server.requests_for("/DvsGesture.tar.gz")) == 1
    # Rerun: the verified tree is used as is, nothing is requested.
    assert fetch_dvsgesture(root, urls=[dead_url], allow_download=False, **kw) == tree
    # Tree deleted, archive still there (as if placed by hand): re-extracted without any download.
    for p in sorted(tree.rglob("*"), reverse=True):
        p.unlink()
    tree.rmdir()
    assert fetch_dvsgesture(root, urls=[dead_url], allow_download=False, **kw) == tree
    assert len(server.requests_for("/DvsGesture.tar.gz")) == 1
    # A corrupt recording is caught by the full md5 check.
    (tree / "user01_lab.aedat").write_bytes(b"corrupt")
    with pytest.raises(ChecksumError, match="user01_lab.aedat"):
        verify_dvsgesture_tree(tree, full_md5=True, expected_files=expected, expected_md5=table)


def test_fetch_dvsgesture_without_reachable_mirror(tmp_path, dead_url):
    root = tmp_path / "dvsg"
    with pytest.raises(DataMissingError) as err:
        fetch_dvsgesture(root, urls=[dead_url], progress=False)
    msg = str(err.value)
    assert DVSGESTURE_IBM_BOX_URL in msg and str(root / "download") in msg
    assert "DvsGesture.tar.gz" in msg and DVSGESTURE_ARCHIVE_MD5 in msg and dead_url in msg
    assert not list((root / "download").iterdir())
    with pytest.raises(DataMissingError, match="switched off"):
        fetch_dvsgesture(root, allow_download=False, progress=False)


def test_hand_placed_archive_with_wrong_md5(tmp_path):
    root = tmp_path / "dvsg"
    (root / "download").mkdir(parents=True)
    (root / "download" / "DvsGesture.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(ChecksumError) as err:
        fetch_dvsgesture(root, allow_download=False, progress=False)
    assert DVSGESTURE_ARCHIVE_MD5 in str(err.value) and DVSGESTURE_IBM_BOX_URL in str(err.value)


def test_default_tree_check_and_registry(tmp_path):
    table = datasets.dvsgesture_aedat_md5()
    split = datasets.dvsgesture_official_split()
    assert len(table) == 122 and list(split.values()).count("train") == 98
    assert split["user23_lab.aedat"] == "train" and split["user24_led.aedat"] == "test"
    (tmp_path / "DvsGesture").mkdir()
    with pytest.raises(DataMissingError, match=r"lacks 246 of its 246 .*user01_fluorescent\.aedat"):
        verify_dvsgesture_tree(tmp_path / "DvsGesture")
    archive = datasets.DVSGESTURE.file("DvsGesture.tar.gz")
    assert archive.md5 == DVSGESTURE_ARCHIVE_MD5 and archive.direct_urls() == [DVSGESTURE_KTH_MIRROR_URL]
    assert archive.manual_urls()[0] == DVSGESTURE_IBM_BOX_URL
    assert all(not f.direct_urls() for f in datasets.DVSGESTURE.files if f.name != "DvsGesture.tar.gz")
    mvsec = datasets.get_dataset("mvsec")
    bag = mvsec.file("indoor_flying1_data.bag")
    assert bag.md5 == "fd01f35eb52a754e8195d478ed2a00a2"
    assert bag.direct_urls() == ["https://visiondata.cis.upenn.edu/mvsec/indoor_flying/indoor_flying1_data.bag"]
    hdf5 = [f for f in mvsec.files if f.name.endswith(".hdf5")]
    assert len(hdf5) == 12 and not any(f.has_checksum for f in hdf5)
    assert mvsec.file("outdoor_day2_gt.bag").md5 == "69fb399411d7098b3e2cf3850f593e7b"


def test_manual_message_is_one_actionable_paragraph(tmp_path):
    msg = manual_download_message("DHP19", ["DVS_movies.zip"], ["https://example.org/a", "https://b"],
                                  tmp_path / "dl", rerun="run `snakemake` again")
    assert "\n" not in msg and "DVS_movies.zip" in msg and "https://example.org/a (or https://b)" in msg
    assert f"{tmp_path / 'dl'}{os.sep}" in msg and "run `snakemake` again" in msg


def test_registry_hdf5_fetch_records_checksum(server, tmp_path):
    """fetch_remote_file on a registry entry with no published checksum records its sha256."""
    mvsec = datasets.get_dataset("mvsec")
    remote = mvsec.file("indoor_flying1_data.hdf5")
    server.files["/if1.hdf5"] = payload(4000, seed=11)
    record = tmp_path / "mvsec_sha256.json"
    out = datasets.fetch_remote_file(mvsec, remote, tmp_path / "dl", urls=[server.url("/if1.hdf5")],
                                     record_checksum_to=record, progress=False)
    assert out == tmp_path / "dl" / "indoor_flying" / "indoor_flying1_data.hdf5"
    assert json.loads(record.read_text())["indoor_flying1_data.hdf5"]["sha256"] == sha256sum(out)
