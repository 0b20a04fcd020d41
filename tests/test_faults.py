"""Faults a long pipeline must survive: a training job killed mid-epoch, truncated raw and cache files,
a second invocation on the same directory."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from _workflow_helpers import SNAKEMAKE, copy_project, smk

pytestmark = pytest.mark.slow


def small_config(wf: Path, epochs=4, **dataset) -> Path:
    cfg = yaml.safe_load((wf / "config.yaml").read_text())
    # the gesture task alone: one model is enough to exercise each fault
    cfg["datasets"] = {"dvsgesture": cfg["datasets"]["dvsgesture"]}
    cfg["frames"] = {"gesture_t8": cfg["frames"]["gesture_t8"]}
    cfg["models"] = {"gesture_plif": cfg["models"]["gesture_plif"]}
    cfg["models"]["gesture_plif"].pop("seeds", None)  # one run, named gesture_plif
    cfg["datasets"]["dvsgesture"]["synthetic"].update(n_train_users=2, n_test_users=1, lightings=["led", "natural"])
    cfg["datasets"]["dvsgesture"].update(dataset)
    cfg["models"]["gesture_plif"]["train"].update(epochs=epochs, threads=1)
    path = wf / "small.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def popen(wf: Path, *args):
    env = dict(os.environ, PYTHONPATH=str(wf / "src"))
    return subprocess.Popen([*SNAKEMAKE, "--cores", "1", *args], cwd=wf, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for(predicate, timeout=300, what=""):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# Loaded as sitecustomize by the training job of the kill test (and only there): once evsnn.train has written the
# checkpoint of epoch 0 (renamed into place), the job runs on into epoch 1 and, in its second backward pass, writes
# a marker file and blocks; so the test's kill lands mid-epoch 1, after that checkpoint, however fast or slow the
# machine is. No timing involved (before: a kill 0.5 s after epoch 1 started, lost if training finished first).
FREEZE_AFTER_CHECKPOINT = r"""
import importlib.abc, importlib.util, os, sys, time

_MARK = os.environ.get("EVSNN_TEST_FREEZE_MARK")


class _FreezeAfterFirstCheckpoint(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "evsnn.train" or _MARK is None:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def exec_and_wrap(module):
            exec_module(module)
            save = module._save_checkpoint   # AttributeError here: the test's hook needs updating

            def save_then_arm(path, payload):
                save(path, payload)
                if payload.get("epoch") != 0:
                    return
                # epoch 1 has begun once this returns: freeze in its second backward pass, i.e. mid-epoch, with
                # one batch of epoch 1 trained and nothing of it saved
                import torch

                backward, calls = torch.Tensor.backward, []

                def backward_then_freeze(self, *args, **kwargs):
                    calls.append(1)
                    if len(calls) == 2:
                        with open(_MARK + ".tmp", "w") as fh:
                            fh.write(str(path))
                        os.replace(_MARK + ".tmp", _MARK)
                        while True:          # the test kills the job here
                            time.sleep(60)
                    return backward(self, *args, **kwargs)

                torch.Tensor.backward = backward_then_freeze

            module._save_checkpoint = save_then_arm

        spec.loader.exec_module = exec_and_wrap
        return spec


sys.meta_path.insert(0, _FreezeAfterFirstCheckpoint())
"""


def test_training_killed_mid_epoch_resumes_to_same_result(tmp_path):
    ref = copy_project(tmp_path / "ref")
    smk(ref, "--configfile", str(small_config(ref)))
    wf = copy_project(tmp_path / "killed")
    cfg = small_config(wf)
    smk(wf, "results/frames/gesture_t8/train.h5", "--configfile", str(cfg))
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FREEZE_AFTER_CHECKPOINT)
    mark = tmp_path / "checkpoint_0_written"
    env = dict(os.environ, PYTHONPATH=f"{hook}{os.pathsep}{wf / 'src'}", EVSNN_TEST_FREEZE_MARK=str(mark))
    out = tmp_path / "snakemake.out"
    with open(out, "w") as fh:
        proc = subprocess.Popen([*SNAKEMAKE, "--cores", "1", "--configfile", str(cfg)], cwd=wf, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    log = wf / "results/logs/train/gesture_plif.log"
    try:
        # the checkpoint of epoch 0 is in place and the job is held mid-epoch 1: kill the whole job
        wait_for(lambda: mark.exists() or proc.poll() is not None, timeout=600, what="the checkpoint of epoch 0")
        assert mark.exists(), f"the workflow ended before the freeze in epoch 1:\n{out.read_text()[-4000:]}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (wf / mark.read_text()).resolve() == (wf / "results/models/gesture_plif/checkpoint.pt").resolve()
    text = log.read_text()  # one line per finished epoch, numbered from 1: "epoch 1/4: train loss ..."
    assert "epoch 1/" in text and "epoch 2/" not in text
    assert not (wf / "results/models/gesture_plif/model.pt").exists()
    assert (wf / "results/models/gesture_plif/checkpoint.pt").exists()
    # a kill leaves Snakemake's lock behind: the user unlocks, reruns, and the incomplete job is rerun
    smk(wf, "--unlock", "--configfile", str(cfg))
    smk(wf, "--configfile", str(cfg))
    assert "resuming from" in log.read_text()
    a = pd.read_csv(ref / "results/models/gesture_plif/metrics.csv")
    b = pd.read_csv(wf / "results/models/gesture_plif/metrics.csv")
    cols = ["epoch", "lr", "train_loss", "train_acc", "val_acc", "test_acc"]
    pd.testing.assert_frame_equal(a[cols], b[cols], rtol=1e-6)
    ea = json.loads((ref / "results/eval/gesture_plif/metrics.json").read_text())
    eb = json.loads((wf / "results/eval/gesture_plif/metrics.json").read_text())
    assert ea["accuracy"] == eb["accuracy"] and ea["confusion"] == eb["confusion"]


def test_truncated_aedat_names_file_and_keeps_no_partial_output(tmp_path):
    from evsnn.tasks.gesture.synth import write_dvsgesture_tree

    tree = tmp_path / "data" / "DvsGesture"
    write_dvsgesture_tree(tree, n_train_users=2, n_test_users=1, lightings=["led"], repeats=1, seed=1)
    victim = tree / "user02_led.aedat"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2 + 3])  # cut inside a packet
    wf = copy_project(tmp_path / "wf")
    cfg = small_config(wf, source="local", path=str(tree.parent))
    proc = smk(wf, "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    line = next(l for l in proc.stderr.splitlines() if l.startswith("evsnn error:"))
    assert "user02_led.aedat" in line and "byte offset" in line
    assert not list((wf / "results/frames").rglob("*.h5")) and not list((wf / "results/frames").rglob(".*"))


def test_truncated_frame_cache_names_file(tmp_path):
    wf = copy_project(tmp_path / "wf")
    cfg = small_config(wf, epochs=1)
    smk(wf, "results/frames/gesture_t8/train.h5", "--configfile", str(cfg))
    cache = wf / "results/frames/gesture_t8/train.h5"
    cache.write_bytes(cache.read_bytes()[:4096])
    proc = smk(wf, "results/models/gesture_plif/model.pt", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    line = next(l for l in proc.stderr.splitlines() if l.startswith("evsnn error:"))
    assert str(Path("results/frames/gesture_t8/train.h5")) in line
    assert not (wf / "results/models/gesture_plif/model.pt").exists()


def test_second_invocation_is_refused_by_the_lock(tmp_path):
    wf = copy_project(tmp_path / "wf")
    cfg = small_config(wf, epochs=2)
    first = popen(wf, "--configfile", str(cfg))
    try:
        wait_for(lambda: (wf / ".snakemake/locks").is_dir() and any((wf / ".snakemake/locks").iterdir()),
                 timeout=60, what="the first run to lock the directory")
        second = smk(wf, "--configfile", str(cfg), check=False)
        assert second.returncode != 0
        assert "cannot be locked" in (second.stdout + second.stderr)
        out, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == 0, out[-3000:]
    assert (wf / "results/tables/gesture.csv").exists()
