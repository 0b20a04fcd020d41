"""Dataset manifests: portable paths inside the project, and the raw-file signature the frames rule depends on."""
import json
import os

from evsnn.config import result_train_settings
from evsnn.manifest import portable, raw_signature, write_manifest


def test_paths_inside_the_project_are_relative_and_outside_stay_absolute(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "resources").mkdir(parents=True)
    monkeypatch.chdir(project)
    inside, outside = project / "resources" / "a.aedat", tmp_path / "data" / "b.aedat"
    m = portable({"root": str(project / "resources"), "recs": [{"aedat": str(inside)}], "local": str(outside),
                  "name": "x", "n": 3})
    assert m == {"root": "resources", "recs": [{"aedat": os.path.join("resources", "a.aedat")}],
                 "local": str(outside), "name": "x", "n": 3}


def test_raw_signature_follows_size_and_mtime_of_the_listed_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"1234")
    b.write_bytes(b"5678")
    out = tmp_path / "manifest.json"
    assert raw_signature(out) == "pending"
    m = write_manifest(out, {"dataset": "d", "root": str(tmp_path)}, [a, b])
    assert m["raw_files"] == ["a.bin", "b.bin"] and json.loads(out.read_text())["root"] == "."
    s0 = raw_signature(out)
    assert raw_signature(out) == s0                                   # nothing changed: same signature
    c = tmp_path / "unlisted.bin"
    c.write_bytes(b"x")
    assert raw_signature(out) == s0                                   # a file the caches do not read: same
    st = a.stat()
    a.write_bytes(b"12")                                              # truncated
    s1 = raw_signature(out)
    assert s1 != s0
    a.write_bytes(b"1234")
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))                  # restored exactly
    assert raw_signature(out) == s0
    b.unlink()
    assert raw_signature(out) not in (s0, s1)                         # a missing file counts too


def test_runtime_settings_are_not_part_of_the_result_settings(monkeypatch):
    import evsnn.config as config

    monkeypatch.setattr(config, "gpu_visible", lambda: False)
    base = {"lr": 1e-3, "epochs": 4, "device": "cpu", "threads": 2, "num_workers": 0}
    same = {**base, "threads": 8, "num_workers": 4, "device": "auto"}
    assert result_train_settings(base) == result_train_settings(same) == {"lr": 1e-3, "epochs": 4, "device": "cpu"}
    assert result_train_settings({**base, "lr": 2e-3}) != result_train_settings(base)
    monkeypatch.setattr(config, "gpu_visible", lambda: True)
    assert result_train_settings(same)["device"] == "cuda"            # auto on a GPU machine is not cpu


def test_checkpoint_digest_ignores_runtime_settings():
    from evsnn.train import RunSpec

    base = {"lr": 1e-3, "epochs": 4, "device": "cpu", "threads": 2, "num_workers": 0}
    a = RunSpec("gesture", "plif_net", {}, base)
    assert a.digest() == RunSpec("gesture", "plif_net", {}, {**base, "threads": 1, "num_workers": 3}).digest()
    assert a.digest() != RunSpec("gesture", "plif_net", {}, {**base, "epochs": 5}).digest()
