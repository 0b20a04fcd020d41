"""Outputs written through the atomic helpers get the mode of a normally written file under the umask (issue 11)."""
from __future__ import annotations

import os
import stat
import tarfile
import io

import pytest

from evsnn.download import safe_extract
from evsnn.util import atomic_path, current_umask, write_json


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_current_umask_reads_without_changing(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_outputs_honour_umask(tmp_path, umask):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what a normally written file gets
    write_json(tmp_path / "summary.json", {"a": 1})
    with atomic_path(tmp_path / "sub" / "model.bin") as tmp:
        tmp.write_bytes(b"\0" * 10)
    assert mode(plain) == 0o666 & ~umask
    assert mode(tmp_path / "summary.json") == mode(plain)
    assert mode(tmp_path / "sub" / "model.bin") == mode(plain)


def test_extracted_tree_honours_umask(tmp_path, umask):
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("top/a.txt")
        info.size = 1
        info.mode = 0o644
        tf.addfile(info, io.BytesIO(b"a"))
    dest = tmp_path / "dest"  # does not exist: the temporary extraction folder itself is renamed onto it
    safe_extract(archive, dest, progress=False)
    assert mode(dest) == 0o777 & ~umask
