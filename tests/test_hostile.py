"""Hostile inputs (issue 21): crafted archives, servers, HDF5 files, configs and names, each built by the test
inside its own scratch directory (tmp_path). Every test asserts the refusal, its one-sentence message, and that
nothing was written outside the scratch directory's expected places."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import stat
import tarfile
import threading
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
import pytest

from evsnn import download as dl
from evsnn.download import download, safe_extract
from evsnn.errors import EvsnnError, FormatError

ROOT = Path(__file__).resolve().parents[1]

try:  # Lava sets the multiprocessing start method when first imported: import it before any test runs
    import lava.lib.dl.netx  # noqa: F401
    HAVE_LAVA = True
except ImportError:  # pragma: no cover - the lava extras are not installed
    HAVE_LAVA = False
needs_lava = pytest.mark.skipif(not HAVE_LAVA, reason="lava-dl is not installed")


def snapshot(root: Path) -> dict[str, bytes | str | None]:
    """Every path under ``root`` (links not followed): file contents, link targets, None for directories."""
    out: dict[str, bytes | str | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_bytes()
            else:
                out[rel] = None
    return out


# ============================================================================ 1. extraction: links, chains
def tar_of(path: Path, members) -> Path:
    """members: (name, bytes) files, ("dir", name) directories, (kind, name, target) links."""
    with tarfile.open(path, "w") as tar:
        for m in members:
            if m[0] == "dir":
                info = tarfile.TarInfo(m[1])
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif m[0] in ("sym", "hard"):
                info = tarfile.TarInfo(m[1])
                info.type = tarfile.SYMTYPE if m[0] == "sym" else tarfile.LNKTYPE
                info.linkname = m[2]
                tar.addfile(info)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    return path


# The extraction runs in a temporary sibling of dest (box/out/.dest.extracting-*), so "d/up/.." is box/out:
# outside the destination, inside tmp_path.
CHAIN = [("dir", "d"), ("sym", "d/up", ".."), ("sym", "esc", "d/up/.."), ("esc/file", b"written outside")]
HARD_CHAIN = [("dir", "d"), ("sym", "d/up", ".."), ("sym", "d/up2", "up/.."), ("sym", "esc", "d/up2/.."),
              ("hard", "h", "esc/victim.txt"), ("h", b"overwritten")]


@pytest.fixture(params=["filter", "no-filter"])
def tar_path(request, monkeypatch):
    """Both extraction code paths: with tarfile's ``filter`` argument and without it (Python < 3.11.4)."""
    if request.param == "no-filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
        assert getattr(tarfile, "data_filter", None) is None
    return request.param


@pytest.mark.parametrize("members, first_link, kind", [
    (CHAIN, "d/up", "symlink"),
    (HARD_CHAIN, "d/up", "symlink"),
    ([("a.txt", b"a"), ("hard", "b.txt", "a.txt")], "b.txt", "hard link"),       # a harmless-looking hard link
    ([("top/a.txt", b"a"), ("sym", "top/in", "a.txt")], "top/in", "symlink"),    # and a symlink inside
])
def test_tar_links_are_refused_before_anything_is_written(tmp_path, tar_path, members, first_link, kind):
    box = tmp_path / "box"
    (box / "out").mkdir(parents=True)
    (box / "out" / "victim.txt").write_bytes(b"precious")
    archive = tar_of(tmp_path / "evil.tar", members)
    before = snapshot(box)
    with pytest.raises(EvsnnError) as err:
        safe_extract(archive, box / "out" / "dest", progress=False)
    msg = str(err.value)
    assert msg == (f"refusing to extract {archive}: member {first_link!r} is a {kind} (to "
                   f"{dict((m[1], m[2]) for m in members if len(m) == 3)[first_link]!r}); archives with links "
                   "are not extracted")
    assert "\n" not in msg
    assert snapshot(box) == before  # no file outside, no victim overwritten, no leftover temporary directory


def test_every_member_is_checked_before_extraction_starts(tmp_path, tar_path):
    """The refusal comes from the member scan, before any member (even the harmless first one) is written."""
    archive = tar_of(tmp_path / "late.tar", [("top/a.txt", b"a" * 100), ("top/b.txt", b"b"),
                                             ("sym", "top/zz", "../../x")])
    calls = []
    real = dl._extract_tar
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dl, "_extract_tar", lambda *a, **k: calls.append(a) or real(*a, **k))
        with pytest.raises(EvsnnError, match=r"member 'top/zz' is a symlink"):
            safe_extract(archive, tmp_path / "dest", progress=False)
    assert calls == [] and sorted(os.listdir(tmp_path)) == ["late.tar"]


def test_zip_symlink_member_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("top/a.txt", b"a")
        info = zipfile.ZipInfo("top/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "../../victim.txt")
    before = snapshot(tmp_path)
    with pytest.raises(EvsnnError) as err:
        safe_extract(archive, tmp_path / "dest", progress=False)
    assert str(err.value) == (f"refusing to extract {archive}: member 'top/link' is a symlink; archives with links "
                              "are not extracted")
    assert snapshot(tmp_path) == before


# ====================================================================== 4. extraction: the size is checked
def _tiny_disk(monkeypatch, free: int):
    real = shutil.disk_usage

    def fake(path):
        return real(path)._replace(free=free)

    monkeypatch.setattr(dl.shutil, "disk_usage", fake)


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_extraction_larger_than_free_space_is_refused(tmp_path, monkeypatch, kind):
    archive = tmp_path / f"big.{kind}"
    body = b"\0" * 200_000  # compresses to almost nothing: what counts is what the members claim
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("top/zeros.bin", body)
    else:
        with tarfile.open(archive, "w:gz") as tar:
            info = tarfile.TarInfo("top/zeros.bin")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    _tiny_disk(monkeypatch, 150_000)
    before = snapshot(tmp_path)
    with pytest.raises(EvsnnError) as err:
        safe_extract(archive, tmp_path / "dest", progress=False)
    assert str(err.value) == (f"refusing to extract {archive}: its members hold 200000 bytes but only 150000 bytes "
                              f"are free in {tmp_path}")
    assert snapshot(tmp_path) == before


# ===================================================================== 2. downloads never mix two versions
class VersionedState:
    """One file whose version can change between requests; logs (Range, If-Range) of every request."""

    def __init__(self):
        self.versions: list[tuple[bytes, dict[str, str]]] = []  # (body, validator headers)
        self.current = 0
        self.switch_after_first = False
        self.cut_first_after: int | None = None
        self.requests: list[tuple[str | None, str | None]] = []
        self.redirects: dict[str, str] = {}
        self.lock = threading.Lock()
        self.port = 0

    def url(self, path: str = "/f.bin") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class VersionedHandler(BaseHTTPRequestHandler):
    """Honours Range, and If-Range as RFC 9110 says: a validator that does not match gets the whole file (200)."""

    def do_GET(self):  # noqa: N802
        st: VersionedState = self.server.state
        if self.path in st.redirects:
            self.send_response(302)
            self.send_header("Location", st.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        with st.lock:
            first = not st.requests
            st.requests.append((rng, if_range))
            body, validators = st.versions[st.current]
            if first and st.switch_after_first:
                st.current += 1
        start, status = 0, 200
        if rng and (if_range is None or if_range in validators.values()):
            start, status = int(rng.removeprefix("bytes=").split("-")[0]), 206
        part = body[start:]
        self.send_response(status)
        for k, v in validators.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(part)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if first and st.cut_first_after is not None:
            self.wfile.write(part[:st.cut_first_after])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.close_connection = True
            return
        self.wfile.write(part)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def vserver():
    state = VersionedState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), VersionedHandler)
    httpd.daemon_threads = False
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


def blob(n: int, seed: int) -> bytes:
    out, block = bytearray(), hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def test_stale_part_without_validator_or_checksum_is_not_resumed(vserver, tmp_path):
    """A partial file of version 1, the server now has version 2 and no ETag: no splice is recorded as trusted."""
    v1, v2 = blob(50_000, 1), blob(50_000, 2)
    vserver.versions = [(v2, {})]
    (tmp_path / "f.bin.part").write_bytes(v1[:20_000])
    record = tmp_path / "sha256.json"
    dest = download(vserver.url(), tmp_path / "f.bin", record_checksum_to=record, progress=False)
    assert dest.read_bytes() == v2
    assert vserver.requests == [(None, None)]  # no Range: started again from byte 0
    assert json.loads(record.read_text())["f.bin"]["sha256"] == hashlib.sha256(v2).hexdigest()
    assert sorted(os.listdir(tmp_path)) == ["f.bin", "sha256.json"]


@pytest.mark.parametrize("validators", [{"ETag": '"v1"'}, {"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}])
def test_resume_sends_if_range_and_appends_the_same_version(vserver, tmp_path, validators):
    data = blob(60_000, 3)
    vserver.versions = [(data, validators)]
    vserver.cut_first_after = 25_000
    dest = download(vserver.url(), tmp_path / "f.bin", backoff=0, progress=False, chunk=4096)
    assert dest.read_bytes() == data
    assert vserver.requests == [(None, None), ("bytes=25000-", next(iter(validators.values())))]
    assert sorted(os.listdir(tmp_path)) == ["f.bin"]  # the validator file is gone with the part


def test_file_changed_between_attempts_is_downloaded_whole(vserver, tmp_path):
    """The connection breaks, the file changes on the server: If-Range makes it answer 200 with version 2."""
    v1, v2 = blob(60_000, 4), blob(60_000, 5)
    vserver.versions = [(v1, {"ETag": '"v1"'}), (v2, {"ETag": '"v2"'})]
    vserver.switch_after_first = True
    vserver.cut_first_after = 25_000
    dest = download(vserver.url(), tmp_path / "f.bin", backoff=0, progress=False, chunk=4096,
                    record_checksum_to=tmp_path / "sha256.json")
    assert dest.read_bytes() == v2  # not v1[:25000] + v2[25000:]
    assert vserver.requests == [(None, None), ("bytes=25000-", '"v1"')]


def test_https_to_http_redirect_is_refused(vserver, tmp_path):
    handler = dl._NoDowngradeRedirect()
    req = urllib.request.Request("https://data.example.org/f.bin")
    with pytest.raises(dl._Permanent) as err:
        handler.redirect_request(req, None, 302, "Found", {}, "http://127.0.0.1:9/f.bin")
    assert str(err.value) == ("redirected (HTTP 302) from https to http://127.0.0.1:9/f.bin, which is not https; "
                              "refusing the downgrade")
    assert handler.redirect_request(req, None, 302, "Found", {}, "https://mirror.example.org/f.bin") is not None
    # redirects that stay on plain http (the local test server) are still followed
    data = blob(5_000, 6)
    vserver.versions = [(data, {})]
    vserver.redirects["/old.bin"] = vserver.url("/f.bin")
    assert download(vserver.url("/old.bin"), tmp_path / "f.bin", progress=False).read_bytes() == data


def test_mvsec_downloads_use_https():
    from evsnn import datasets

    urls = [u for f in datasets.MVSEC.files for u in f.direct_urls()]
    assert urls and all(u.startswith("https://") for u in urls)


def test_download_larger_than_free_space_is_refused(vserver, tmp_path, monkeypatch):
    vserver.versions = [(blob(200_000, 7), {"ETag": '"v1"'})]
    _tiny_disk(monkeypatch, 150_000)
    url = vserver.url()
    with pytest.raises(EvsnnError) as err:
        download(url, tmp_path / "f.bin", progress=False)
    assert str(err.value) == (f"refusing to download f.bin from {url}: the server announces 200000 bytes but only "
                              f"150000 bytes are free in {tmp_path}")
    assert os.listdir(tmp_path) == []


# ======================================================== 3./4. HDF5: no other local file, no claimed giants
SECRET = b"SECRET-CONTENTS-OF-AN-UNRELATED-FILE"


def _secret(tmp_path: Path) -> Path:
    p = tmp_path / "unrelated.txt"
    p.write_bytes(SECRET)
    return p


def _net_layer(group, ltype: str, shape, type_external: Path | None = None):
    if type_external is not None:  # the layer type's bytes live in another file
        group.create_dataset("type", (1,), "S36", external=[(os.fspath(type_external), 0, 36)])
    else:
        group.create_dataset("type", (1,), "S10", [ltype.encode()])
    group.create_dataset("shape", data=np.array(shape))
    for k, v in {"type": "SDNN", "activation": "relu", "vThMant": 2}.items():
        group.create_dataset(f"neuron/{k}", data=v)


def crafted_h5(path: Path, kind: str, tmp_path: Path, base: str = "layer/0") -> Path:
    """A file whose dataset (or group) at ``base`` reads another local file, or claims 4 TiB."""
    secret = _secret(tmp_path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as fh:
        fh.create_dataset("data", data=np.frombuffer(SECRET, dtype="u1"))
    with h5py.File(path, "w") as fh:
        if kind == "external-storage":
            fh.create_dataset(base, (len(SECRET),), "u1", external=[(os.fspath(secret), 0, len(SECRET))])
        elif kind == "external-link":
            fh[base] = h5py.ExternalLink(os.fspath(other), "/data")
        elif kind == "virtual":
            layout = h5py.VirtualLayout(shape=(len(SECRET),), dtype="u1")
            layout[:] = h5py.VirtualSource(os.fspath(other), "data", shape=(len(SECRET),))
            fh.create_virtual_dataset(base, layout)
        elif kind == "giant":  # 4 TiB claimed, nothing allocated: the file stays a few kB
            fh.create_dataset(base, shape=(1 << 40,), dtype="f4", chunks=(1 << 16,))
    return path


PROBLEMS = {
    "external-storage": "keeps its data in external files ({secret}); refusing to read it",
    "external-link": "is an external link to {other}:/data; refusing to follow it",
    "virtual": "is a virtual dataset (mapped from other files); refusing to read it",
    "giant": "claims shape (1099511627776,) of float32 (4398046511104 bytes), more than the {limit} bytes allowed; "
             "refusing to read it",
}


def _expected(kind: str, tmp_path: Path, name: str, limit: int = 1 << 30) -> str:
    what = "/" + name
    prefix = "dataset " if kind != "external-link" else ""
    return prefix + what + " " + PROBLEMS[kind].format(secret=tmp_path / "unrelated.txt", other=tmp_path / "other.h5",
                                                       limit=limit)


@needs_lava
@pytest.mark.parametrize("kind", ["external-storage", "external-link", "virtual", "giant"])
def test_netx_file_reading_other_files_or_claiming_4tib_is_refused(tmp_path, kind):
    from evsnn.lava.netx import read_layers

    path = tmp_path / "crafted.net"
    crafted_h5(path, kind, tmp_path, base="layer/0/weight")
    with h5py.File(path, "a") as fh:
        _net_layer(fh["layer/0"], "input", (1, 4, 4))
    before = snapshot(tmp_path)
    with pytest.raises(FormatError) as err:
        read_layers(path)
    assert str(err.value) == f"{path}: " + _expected(kind, tmp_path, "layer/0/weight")
    assert SECRET.decode() not in str(err.value)
    assert snapshot(tmp_path) == before


@needs_lava
def test_netx_layer_type_from_another_file_is_not_printed(tmp_path):
    """The reported case: the layer type's bytes come from an unrelated file and ended up in the message."""
    from evsnn.cli import main

    path = tmp_path / "leak.net"
    with h5py.File(path, "w") as fh:
        _net_layer(fh.create_group("layer/0"), "input", (1, 4, 4), type_external=_secret(tmp_path))
    rc, msg = _cli(main, ["netx", "info", str(path)])
    assert rc == 2 and SECRET.decode() not in msg
    assert msg == (f"evsnn error: {path}: dataset /layer/0/type keeps its data in external files "
                   f"({tmp_path / 'unrelated.txt'}); refusing to read it")


def _cli(main, argv) -> tuple[int, str]:
    import contextlib

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue().strip()


@needs_lava
def test_netx_run_caps_the_random_input_the_file_claims(tmp_path):
    from evsnn.lava.run import MAX_RANDOM_INPUT_BYTES, run_file

    path = tmp_path / "wide.net"
    with h5py.File(path, "w") as fh:  # 6 kB that claim a 4 x 4096 x 4096 input: 4 GiB of float64 per 8 steps
        _net_layer(fh.create_group("layer/0"), "input", (4, 4096, 4096))
    with pytest.raises(EvsnnError) as err:
        run_file(path)
    assert str(err.value) == (f"{path}: a random input of 1 sample(s) of shape [4, 4096, 4096] x 8 steps would take "
                              f"4294967296 bytes, more than the {MAX_RANDOM_INPUT_BYTES} allowed; use fewer --samples "
                              "or --steps, or pass --input")
    with h5py.File(path, "w") as fh:  # a layer beyond any network: refused before any Lava process is built
        _net_layer(fh.create_group("layer/0"), "input", (1024, 1024, 1024))
    with pytest.raises(FormatError, match=r"layer 0 \(input\): declared shape \[1024, 1024, 1024\] is empty or has "
                                          r"more than 67108864 neurons$"):
        run_file(path)


@pytest.mark.parametrize("kind", ["external-storage", "external-link", "virtual"])
def test_keras_model_reading_other_files_is_refused(tmp_path, kind):
    from evsnn.tasks.pose.keras_import import read_dhp19_keras

    path = tmp_path / "DHP_CNN.model"
    crafted_h5(path, kind, tmp_path, base="model_weights/conv2d_1/conv2d_1/kernel:0")
    with pytest.raises(FormatError) as err:
        read_dhp19_keras(path)
    assert str(err.value) == f"{path}: " + _expected(kind, tmp_path, "model_weights/conv2d_1/conv2d_1/kernel:0")
    assert SECRET.decode() not in str(err.value)


def _mvsec_data(path: Path, events_kind: str | None, tmp_path: Path) -> Path:
    if events_kind is not None:
        crafted_h5(path, events_kind, tmp_path, base="davis/left/events")
    mode = "a" if events_kind is not None else "w"
    with h5py.File(path, mode) as fh:
        if events_kind is None:
            fh.create_dataset("davis/left/events", data=np.zeros((4, 4)))
        fh.create_dataset("davis/right/events", data=np.zeros((4, 4)))
    return path


@pytest.mark.parametrize("kind", ["external-storage", "external-link", "virtual"])
def test_mvsec_file_reading_other_files_is_refused(tmp_path, kind):
    from evsnn.io import mvsec as mv

    path = _mvsec_data(tmp_path / "indoor_flying1_data.hdf5", kind, tmp_path)
    with pytest.raises(FormatError) as err:
        mv.MVSECSequence(path)
    assert str(err.value) == f"{path}: " + _expected(kind, tmp_path, "davis/left/events")
    assert SECRET.decode() not in str(err.value)


def test_mvsec_timestamps_claiming_4tib_are_not_read(tmp_path):
    from evsnn.io import mvsec as mv

    gt = tmp_path / "indoor_flying1_gt.hdf5"
    crafted_h5(gt, "giant", tmp_path, base="davis/left/depth_image_rect_ts")
    with h5py.File(gt, "a") as fh:
        fh.create_dataset("davis/left/depth_image_rect", data=np.zeros((1, 4, 4), dtype="f4"))
    assert gt.stat().st_size < 64_000
    with pytest.raises(FormatError) as err:
        mv.read_depth_timestamps(gt)
    assert str(err.value) == f"{gt}: " + _expected("giant", tmp_path, "davis/left/depth_image_rect_ts",
                                                   limit=mv.MAX_WHOLE_BYTES)


# ======================================================================= 5. a config is code: config check
def test_config_check_refuses_a_yte_template_without_running_it(tmp_path, capsys):
    from evsnn.cli import main

    ran = tmp_path / "ran"
    cfg = tmp_path / "shared.yaml"
    cfg.write_text("__use_yte__: true\n"
                   f"datasets:\n  ?__import__('pathlib').Path({os.fspath(ran)!r}).touch() or 'x': {{}}\n")
    before = snapshot(tmp_path)
    assert main(["config", "check", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"evsnn error: config file {cfg} sets '__use_yte__' at its top level: snakemake --configfile would "
                   "evaluate it as a YTE template, which runs the Python code in it while loading; refusing it")
    assert not ran.exists() and snapshot(tmp_path) == before


def test_config_check_validates_like_the_workflow(tmp_path, capsys):
    import yaml

    from evsnn.cli import main

    demo = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert main(["config", "check", str(ROOT / "config.yaml")]) == 0
    from evsnn.config import validate_config

    runs = len(validate_config(demo)["models"])
    assert capsys.readouterr().out.strip() == (f"ok: {len(demo['datasets'])} datasets, {len(demo['frames'])} "
                                               f"frames, {len(demo['models'])} models ({runs} runs with seeds and "
                                               f"sweeps)")
    bad = tmp_path / "bad.yaml"
    demo["models"][next(iter(demo["models"]))]["train"] = {"optimizer": "adamw"}
    bad.write_text(yaml.safe_dump(demo))
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"evsnn error: config file {bad}: config key 'models.") and "'adamw'; allowed values:" in err
    assert "\n" not in err
    for text, why in [("- a\n- b\n", "must hold a mapping of config keys at its top level, not list"),
                      ("a: [\n", "is not readable YAML")]:
        bad.write_text(text)
        assert main(["config", "check", str(bad)]) == 2
        assert capsys.readouterr().err.startswith(f"evsnn error: config file {bad} {why}")


# ============================================================================== 6. names and Markdown tables
@pytest.mark.parametrize("section", ["datasets", "frames", "models"])
def test_names_with_a_trailing_newline_are_refused(section):
    import yaml

    from evsnn.config import validate_config
    from evsnn.errors import ConfigError

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    name = next(iter(cfg[section]))
    cfg[section][name + "\n"] = cfg[section].pop(name)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert str(err.value) == (f"config key '{section}': name {name + chr(10)!r} may use only letters, digits and "
                              "'_'")


def test_markdown_table_cells_cannot_break_the_table(tmp_path):
    import pandas as pd

    from evsnn.tables import write_table

    df = pd.DataFrame({"model": ["a|b", "two\nlines", "back\\slash"], "a|col": [1, 2, 3]})
    write_table(df, tmp_path / "t.csv", tmp_path / "t.md", "title | with\nbreak")
    lines = (tmp_path / "t.md").read_text().splitlines()
    assert lines == ["# title \\| with<br>break", "", "| model | a\\|col |", "|---|---|", "| a\\|b | 1 |",
                     "| two<br>lines | 2 |", "| back\\\\slash | 3 |"]
    assert sorted(os.listdir(tmp_path)) == ["t.csv", "t.md"]
    assert pd.read_csv(tmp_path / "t.csv")["model"].tolist() == ["a|b", "two\nlines", "back\\slash"]


# ============================================================ 7. the test cluster's scripts and their state
@pytest.mark.parametrize("script", ["start_cluster.sh", "stop_cluster.sh"])
@pytest.mark.parametrize("state", ["victim", "/run/evsnn-slurm-x/../../victim", "link"])
def test_cluster_scripts_refuse_a_foreign_state_directory(tmp_path, script, state):
    """EVSNN_SLURM_STATE pointing at someone else's directory: refused before anything (PATH holds no tools, so
    even a broken check could not install, start or delete anything)."""
    import subprocess

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    (tmp_path / "link").symlink_to(victim)
    if not state.startswith("/"):
        state = os.fspath(tmp_path / state)
    before = snapshot(tmp_path)
    proc = subprocess.run(["/bin/bash", str(ROOT / "tests" / "slurm" / script), "--force"], capture_output=True,
                          text=True, timeout=60, env={"PATH": os.fspath(tmp_path / "no-tools"),
                                                      "EVSNN_SLURM_STATE": state})
    name = script.removesuffix(".sh")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"{name}: refusing EVSNN_SLURM_STATE='{state}': it must be /run/evsnn-slurm or "
                           "/run/evsnn-slurm-NAME and not a symlink\n")
    assert snapshot(tmp_path) == before


def test_start_cluster_logs_to_a_private_directory():
    text = (ROOT / "tests" / "slurm" / "start_cluster.sh").read_text()
    assert "/tmp/evsnn-slurm-apt.log" not in text and 'mktemp -d "${TMPDIR:-/tmp}/evsnn-slurm-apt.' in text
