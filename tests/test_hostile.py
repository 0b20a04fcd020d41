"""Hostile inputs (issue 21): crafted archives, servers, HDF5 files, configs and names, each built by the test
inside its own scratch directory (tmp_path). Every test asserts the refusal, its one-sentence message, and that
nothing was written outside the scratch directory's expected places."""
from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from evsnn import download as dl
from evsnn.download import safe_extract
from evsnn.errors import EvsnnError

ROOT = Path(__file__).resolve().parents[1]


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
