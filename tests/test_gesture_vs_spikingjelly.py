"""The headline gesture pieces against spikingjelly 2.0 itself (issue 20 item 4).

- The gesture frame cache (tasks/gesture/data.py), row by row, against spikingjelly's own pipeline on a small
  synthetic DvsGesture tree: its ``load_aedat_v3``, its label-CSV handling and ``start <= t < end`` slicing
  (``_split_aedat_files_to_np``), its train/test trial lists and its ``integrate_events_by_fixed_frames_number``.
- ``plif_net`` (tasks/gesture/models.py) against spikingjelly's ``DVSGestureNet``
  (activation_based/model/parametric_lif_net.py, built as its examples/classify_dvsg.py builds it, with
  ``ParametricLIFNode``) with the same weights: identical outputs and gradients.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

pytest.importorskip("spikingjelly")

from evsnn.tasks.gesture.data import build_gesture_frames, prepare_dvsgesture  # noqa: E402

T = 4


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sjgesture")
    ds = {"kind": "dvsgesture", "source": "synthetic",
          "synthetic": {"n_train_users": 1, "n_test_users": 1, "lightings": ["fluorescent", "led"], "repeats": 1,
                        "gesture_duration_s": 0.5, "seed": 4}}
    manifest = prepare_dvsgesture("dvsgesture", ds, str(tmp / "resources"), str(tmp / "manifest.json"))
    return manifest, tmp


def _sj_samples(root: Path, out: Path) -> dict:
    """spikingjelly's create_raw_from_extracted loop: trial lists -> one .npz per label row, per split."""
    from _sj_compat import load_sj_gesture_split

    split_fn = load_sj_gesture_split()
    names = {}
    for split in ("train", "test"):
        for label in range(11):
            (out / split / str(label)).mkdir(parents=True, exist_ok=True)
        names[split] = []
        with open(root / f"trials_to_{split}.txt") as fh:
            for fname in fh.readlines():   # as spikingjelly reads them
                fname = fname.strip()
                if len(fname) > 0:
                    aedat = root / fname
                    fname = os.path.splitext(fname)[0]
                    split_fn(fname, aedat, root / f"{fname}_labels.csv", out / split)
                    names[split].append(fname)
    return names


@pytest.mark.parametrize("split_by", ["number", "time"])
def test_gesture_cache_equals_spikingjelly_row_by_row(tree, split_by):
    from _sj_compat import load_sj_dataset_utils

    sj = load_sj_dataset_utils()
    manifest, tmp = tree
    frames_cfg = {"dataset": "dvsgesture", "T": T, "split_by": split_by, "downsample": 1}
    train, test = tmp / f"train_{split_by}.h5", tmp / f"test_{split_by}.h5"
    build_gesture_frames(manifest, frames_cfg, str(train), str(test))
    sj_dir = tmp / f"sj_{split_by}"
    names = _sj_samples(Path(manifest["root"]), sj_dir)
    csv_rows = 0
    for split, cache in (("train", train), ("test", test)):
        with h5py.File(cache) as h5:
            frames, labels, trial = h5["frames"][:], h5["labels"][:], h5["trial"][:]
            trials = [t.decode() if isinstance(t, bytes) else t for t in h5["trials"][:]]
            windows = h5["window"][:]
        # spikingjelly's samples of this split: every .npz it wrote, keyed (recording, label, occurrence)
        sj_files = {p for p in (sj_dir / split).glob("*/*.npz")}
        assert len(sj_files) == len(frames) > 0, (split, len(sj_files), len(frames))
        seen = {}
        expected_trials = [f"{n}.aedat" for n in names[split]]
        assert [trials[t] for t in sorted(set(trial.tolist()), key=trial.tolist().index)] == expected_trials
        for i in range(len(frames)):
            fname = Path(trials[trial[i]]).stem
            label = int(labels[i])
            n = seen.get((fname, label), 0)
            seen[fname, label] = n + 1
            npz = sj_dir / split / str(label) / f"{fname}_{n}.npz"   # label and trial: where spikingjelly put it
            assert npz in sj_files, npz
            sj_files.discard(npz)
            ev = dict(np.load(npz))
            start, end = windows[i]
            assert ev["t"].size == 0 or (ev["t"].min() >= start and ev["t"].max() < end)
            ref = sj.integrate_events_by_fixed_frames_number(ev, split_by, T, 128, 128)
            np.testing.assert_array_equal(frames[i], ref, err_msg=f"{split} row {i} ({npz.name})")
            # the window is the CSV row's (spikingjelly reads it with np.loadtxt, skipping the header)
            rows = np.loadtxt(Path(manifest["root"]) / f"{fname}_labels.csv", dtype=np.uint32, delimiter=",",
                              skiprows=1)
            match = rows[(rows[:, 0] - 1 == label)][n]
            assert (int(match[1]), int(match[2])) == (int(start), int(end))
        assert not sj_files
        csv_rows += len(frames)
    assert csv_rows >= 44


# ------------------------------------------------------------------------------------------------ plif_net
def _pair(channels, kind="plif"):
    from spikingjelly.activation_based import functional, neuron, surrogate
    from spikingjelly.activation_based.model.parametric_lif_net import DVSGestureNet

    from evsnn.tasks.gesture.models import PLIFNet

    torch.manual_seed(0)
    ours = PLIFNet((2, 128, 128), 11, channels=channels, neuron=kind)
    cls = {"plif": neuron.ParametricLIFNode, "lif": neuron.LIFNode}[kind]
    ref = DVSGestureNet(channels=channels, spiking_neuron=cls,
                        surrogate_function=surrogate.ATan(), detach_reset=True)
    functional.set_step_mode(ref, "m")
    # state dict: our conv.i is their conv_fc.i; our fc.j (Flatten, Dropout, Linear, PLIF, Dropout, Linear, PLIF)
    # is their conv_fc.(20 + j); the voting layer has no parameters
    n_conv = len(ours.conv)
    mapped = {}
    for key, value in ours.state_dict().items():
        part, idx, rest = key.split(".", 2)
        j = int(idx) if part == "conv" else n_conv + int(idx)
        mapped[f"conv_fc.{j}.{rest}"] = value
    assert mapped.keys() == ref.state_dict().keys()
    # random BN statistics and PLIF time constants so that the comparison covers them
    with torch.no_grad():
        for m in ours.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(1.0, 3.0)
                m.bias.uniform_(-0.5, 2.5)
            if isinstance(m, torch.nn.Linear):   # enough drive that the readout spikes
                m.weight.mul_(6.0)
                m.bias.uniform_(-1.0, 3.0)
            if hasattr(m, "w") and isinstance(m.w, torch.nn.Parameter):
                m.w.uniform_(-1.0, 1.0)
    mapped = {k: ours.state_dict()[k2] for k, k2 in zip(mapped, ours.state_dict())}
    ref.load_state_dict(mapped)
    return ours, ref


def test_plif_net_has_dvsgesturenet_parameter_count():
    from spikingjelly.activation_based import neuron, surrogate
    from spikingjelly.activation_based.model.parametric_lif_net import DVSGestureNet

    from evsnn.tasks.gesture.models import PLIFNet

    ours = PLIFNet((2, 128, 128), 11)
    ref = DVSGestureNet(channels=128, spiking_neuron=neuron.ParametricLIFNode, surrogate_function=surrogate.ATan(),
                        detach_reset=True)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ours) == count(ref)


@pytest.mark.parametrize("kind", ["plif", "lif"])
@pytest.mark.parametrize("train", [False, True])
def test_plif_net_equals_spikingjelly_dvsgesturenet(train, kind):
    """Same weights, same input: identical firing rates (the example's ``net(frame).mean(0)``) and, in training
    mode (dropout with the same random stream, batch statistics), identical gradients. ``plif``: the paper's
    neuron (init_tau 2, ATan, detached reset); ``lif``: what spikingjelly's examples/classify_dvsg.py passes to
    DVSGestureNet (``neuron.LIFNode``, tau 2) -- the paper (Fang et al. 2021) uses PLIF, the example LIF; both
    are the same network otherwise."""
    ours, ref = _pair(channels=16, kind=kind)
    ours.train(train)
    ref.train(train)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(T, 3, 2, 128, 128, generator=g) < 0.05).float() * torch.randint(1, 4, (T, 3, 2, 128, 128),
                                                                                    generator=g)
    from spikingjelly.activation_based import functional

    torch.manual_seed(7)
    out = ours(x)
    functional.reset_net(ref)
    torch.manual_seed(7)
    out_ref = ref(x).mean(0)
    assert out.shape == out_ref.shape == (3, 11)
    assert 0 < out.mean() < 1 and out.std() > 0   # graded rates: equality is not trivially 0 == 0
    torch.testing.assert_close(out, out_ref, rtol=0, atol=0)
    if train:
        target = torch.nn.functional.one_hot(torch.tensor([0, 3, 5]), 11).float()
        torch.nn.functional.mse_loss(out, target).backward()
        torch.nn.functional.mse_loss(out_ref, target).backward()
        for (name, p), p_ref in zip(ours.named_parameters(), ref.parameters()):
            torch.testing.assert_close(p.grad, p_ref.grad, rtol=0, atol=0, msg=name)
