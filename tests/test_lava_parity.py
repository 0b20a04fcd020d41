"""slayer vs Lava: exported lava-dl networks reproduce slayer bit for bit in every layer (SDNN and CUBA; conv, pool,
convT, flatten, dense, sigma output), the evsnn lava-dl models export and run in Lava, and the comparison does
see a difference when there is one."""
from __future__ import annotations

import functools
import multiprocessing

import h5py
import numpy as np
import pytest
import torch

pytest.importorskip("lava.lib.dl.slayer")
pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")

from lava.lib.dl import slayer  # noqa: E402

from evsnn.lava.export import export_network, quantize_thresholds  # noqa: E402
from evsnn.lava.parity import compare, lava_forward, slayer_input  # noqa: E402
from evsnn.models import build_model  # noqa: E402


@pytest.fixture(autouse=True)
def _no_leaked_workers():
    yield
    assert multiprocessing.active_children() == [], "Lava worker processes were left running"


def _sd_params(threshold=0.05, norm_channels=None):
    p = {"threshold": threshold, "tau_grad": 0.5, "scale_grad": 1.0, "requires_grad": True, "shared_param": True,
         "activation": torch.nn.functional.relu}
    if norm_channels:
        p["norm"] = functools.partial(slayer.neuron.norm.MeanOnlyBatchNorm, num_features=norm_channels)
    return p


def _sdnn_blocks():
    """Every layer type: conv (padding, dilation, groups), sum and average pool (odd width: slayer pads it),
    convT (k3 s2 p1), flatten, dense, sigma output; input (2, 8, 10)."""
    sd = slayer.block.sigma_delta
    torch.manual_seed(0)
    return torch.nn.ModuleList([
        sd.Input(_sd_params()),
        sd.Conv(_sd_params(norm_channels=4), 2, 4, 3, padding=1, weight_scale=2, weight_norm=True),
        sd.Pool(_sd_params(), 2, stride=2),                                                   # (4, 4, 5)
        sd.Conv(_sd_params(norm_channels=4), 4, 4, 3, padding=2, dilation=2, groups=2, weight_scale=2),
        sd.Pool(_sd_params(), 2, stride=2, weight_scale=0.25),   # average pooling, (4, 2, 3)
        sd.ConvT(_sd_params(norm_channels=3), 4, 3, 3, stride=2, padding=1, weight_scale=2),  # (3, 3, 5)
        sd.Flatten(),
        sd.Dense(_sd_params(), 45, 8, weight_scale=2),
        sd.Output(_sd_params(), 8, 3, weight_scale=2),
    ])


def _calibrate(blocks, x):
    """A train-mode pass sets the mean-only batch norms' running means (the exported biases)."""
    with torch.no_grad():
        for b in blocks:
            b.train()
        y = x
        for b in blocks:
            y = b(y)
        for b in blocks:
            b.eval()


def _sdnn_input():
    torch.manual_seed(1)
    return torch.rand(2, 2, 8, 10, 6) * 3.0   # [N, C, H, W, T], partly beyond the input clamp (3.97)


@pytest.fixture(scope="module")
def sdnn_net(tmp_path_factory):
    blocks = _sdnn_blocks()
    x = _sdnn_input()
    _calibrate(blocks, x)
    path = tmp_path_factory.mktemp("sdnn") / "net.net"
    summary = export_network(blocks, path, in_shape=(2, 8, 10))
    return blocks, x, path, summary


def _assert_exact(report, n_layers):
    assert len(report["layers"]) == n_layers
    for e in report["layers"]:
        assert e["n_compared"] > 0
        assert e["max_abs_diff"] == 0.0 and e["n_mismatch"] == 0 and e["acc_overflows"] == 0, e
        assert e["nonzero_slayer"] == e["nonzero_lava"] > 0, e   # real activity, not two empty outputs
    assert report["bit_exact"]


@pytest.mark.parametrize("conv_impl", ["numpy", "lava"])
def test_sdnn_every_layer_type_is_bit_exact(sdnn_net, conv_impl):
    blocks, x, path, summary = sdnn_net
    assert [e["type"] for e in summary["layers"]] == ["input", "conv", "pool", "conv", "pool", "convT", "flatten",
                                                      "dense", "dense"]
    report = compare(blocks, path, x, conv_impl=conv_impl)
    _assert_exact(report, 8)  # every layer but flatten runs in Lava
    shifts = [e["latency_shift"] for e in report["layers"]]
    assert shifts == list(range(8))  # SDNN blocks do not model Lava's one-step-per-layer latency
    # graded spikes really carry fractional values (the check is not about 0/1 spikes)
    assert max(e["max_abs_slayer"] for e in report["layers"]) > 1.0
    assert report["lava"]["lava_steps"] == 2 * 6 + 7


def test_parity_reports_a_perturbed_weight(sdnn_net, tmp_path):
    """Negative control: change one conv weight in the file: the layers before it stay exact, it does not."""
    blocks, x, path, _ = sdnn_net
    bad = tmp_path / "bad.net"
    bad.write_bytes(path.read_bytes())
    with h5py.File(bad, "r+") as fh:
        w = fh["layer/3/weight"][()]
        w[0, 0, 1, 1] += 16
        fh["layer/3/weight"][...] = w
    report = compare(blocks, bad, x)
    by_index = {e["index"]: e for e in report["layers"]}
    assert not report["bit_exact"]
    assert all(by_index[i]["bit_exact"] for i in (0, 1, 2))
    assert by_index[3]["n_mismatch"] > 0 and by_index[3]["max_abs_diff"] > 0


def test_cuba_network_is_bit_exact_with_slayer_delays(tmp_path):
    cb = slayer.block.cuba
    p = {"threshold": 0.5, "current_decay": 0.25, "voltage_decay": 0.03, "tau_grad": 0.1, "scale_grad": 1.0}
    torch.manual_seed(1)
    blocks = torch.nn.ModuleList([
        cb.Input(p), cb.Conv(p, 2, 4, 3, padding=1, weight_scale=3), cb.Pool(p, 2, stride=2),
        cb.ConvT(p, 4, 3, 2, stride=2, weight_scale=3), cb.Conv(p, 3, 3, 3, padding=1, weight_scale=3),
        cb.Flatten(), cb.Dense(p, 3 * 8 * 8, 5, weight_scale=3)])   # delay_shift=True (slayer's default)
    x = (torch.rand(2, 2, 8, 8, 10) < 0.4).float()
    path = export_network(blocks, tmp_path / "cuba.net", in_shape=(2, 8, 8))["path"]
    report = compare(blocks, path, x)
    _assert_exact(report, 6)
    # slayer delays every CUBA block (the input block too) by one step: it runs one step behind Lava
    assert [e["slayer_delay"] for e in report["layers"]] == [1, 2, 3, 4, 5, 6]
    assert {e["latency_shift"] for e in report["layers"]} == {-1}
    assert all(e["max_abs_slayer"] == 1.0 for e in report["layers"])   # binary spikes


def test_accumulator_overflow_is_reported_and_can_be_switched_off(tmp_path):
    """Lava's conv synapses (like Loihi) wrap the per-step dendritic sum at 24 bits: +-32 in slayer units for
    graded SDNN input. slayer does not; the report counts the overflows, and without the wrap (and with a float64
    slayer reference for the large states) the two agree again."""
    sd = slayer.block.sigma_delta
    blocks = torch.nn.ModuleList([sd.Input(_sd_params()), sd.Conv(_sd_params(), 1, 2, 3, padding=1),
                                  sd.Conv(_sd_params(), 2, 2, 3, padding=1)])
    with torch.no_grad():
        blocks[1].synapse.weight.fill_(1.5)        # 9 taps x 3.97 x 1.5 > 32
        blocks[2].synapse.weight.fill_(0.25)
    torch.manual_seed(0)
    x = 3.4 + 0.5 * torch.rand(1, 1, 6, 6, 4)     # interior sums of 9 x ~3.6 x 1.5 ~ 49
    export_network(blocks, tmp_path / "big.net", in_shape=(1, 6, 6))
    wrapped = compare(blocks, tmp_path / "big.net", x)
    assert wrapped["acc_bits"] == 24 and not wrapped["bit_exact"]
    first, second = wrapped["layers"][:2]
    assert first["bit_exact"] and first["acc_overflows"] == 0
    assert second["acc_overflows"] > 0 and second["n_mismatch"] > 0
    exact = compare(blocks, tmp_path / "big.net", x, acc_bits=None, slayer_dtype=torch.float64)
    _assert_exact(exact, 3)
    assert exact["layers"][1]["max_abs_slayer"] > 32


def test_network_without_input_neuron_takes_binary_events(tmp_path):
    """A CUBA network that starts with a conv synapse: events go straight into it (one more step of latency)."""
    cb = slayer.block.cuba
    p = {"threshold": 0.5, "current_decay": 0.25, "voltage_decay": 0.03}
    torch.manual_seed(3)
    blocks = torch.nn.ModuleList([cb.Conv(p, 2, 4, 3, padding=1, weight_scale=3), cb.Pool(p, 2, weight_scale=1),
                                  cb.Flatten(), cb.Dense(p, 4 * 4 * 4, 5, weight_scale=3)])
    x = (torch.rand(3, 2, 8, 8, 6) < 0.4).float()
    export_network(blocks, tmp_path / "noinput.net", in_shape=(2, 8, 8))
    report = compare(blocks, tmp_path / "noinput.net", x)
    _assert_exact(report, 3)
    assert [e["latency_shift"] for e in report["layers"]] == [0, 0, 0]   # Lava latency k + 1, slayer delay k + 1
    assert report["lava"]["lava_steps"] == 3 * 6 + 3


def test_dhp19_sdnn_exports_and_runs_bit_exactly(tmp_path):
    torch.manual_seed(0)
    model = build_model("dhp19_sdnn", {"base_channels": 2, "threshold": 0.04}, in_shape=(1, 8, 12), n_classes=3)
    frames = torch.poisson(torch.full((3, 2, 1, 8, 12), 1.0))
    model.train()
    with torch.no_grad():
        model(frames * 2)
    model.eval()
    summary = export_network(model, tmp_path / "dhp19.net")
    assert len(summary["layers"]) == 20 and summary["thresholds"] == [0.03125]   # 0.04 snapped to 2/64
    assert model.blocks[1].neuron.delta.threshold.item() == 0.03125              # ... in the live model too
    report = compare(model, tmp_path / "dhp19.net", slayer_input(model, frames))
    _assert_exact(report, 20)
    y_lava, res = lava_forward(model, tmp_path / "dhp19.net", frames)
    with torch.no_grad():
        y = model(frames)
    assert y_lava.shape == y.shape == (2, 3, 8, 12)
    assert torch.equal(y_lava, y)
    assert res.latency == 19 and res.lava_steps == 2 * 3 + 19


@pytest.mark.parametrize("n_samples", [1, 2])
def test_trained_biases_are_bit_exact_for_one_sample_and_many(tmp_path, n_samples):
    """A trained network's mean-only batch norm exports as a neuron bias: a biased neuron answers before any input
    (slayer at t=0, Lava in the step before the sample reaches it), so every run resets the neurons when the first
    input step arrives, a single sample included (a regression: one-sample runs once skipped that reset)."""
    torch.manual_seed(1)
    model = build_model("dhp19_sdnn", {"base_channels": 2, "threshold": 0.04}, in_shape=(1, 8, 12), n_classes=3)
    model.eval()
    with torch.no_grad():  # running means on the weight grid: biases of +-1 and +-2 threshold steps
        for block in model.blocks:
            norm = getattr(getattr(block, "neuron", None), "norm", None)
            if norm is not None:
                norm.running_mean.copy_(torch.tensor([-2.0, 1.0, 0.0, -1.0] * 8)[:norm.running_mean.numel()] / 64)
    export_network(model, tmp_path / "biased.net")
    frames = torch.poisson(torch.full((3, n_samples, 1, 8, 12), 1.0))
    report = compare(model, tmp_path / "biased.net", slayer_input(model, frames))
    assert report["layers"][1]["nonzero_slayer"] > 0
    _assert_exact(report, 20)


def _gesture_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = (torch.rand(4, n, 2, 16, 16, generator=g) < 0.05).float()
    for i in range(n):
        c = int(y[i])
        rows, cols = slice((c // 2) * 8, (c // 2) * 8 + 8), slice((c % 2) * 8, (c % 2) * 8 + 8)
        x[:, i, c % 2, rows, cols] += torch.poisson(torch.full((4, 8, 8), 1.5), generator=g)
    return x, y


def test_gesture_sdnn_learns_and_runs_in_lava_with_the_same_predictions(tmp_path):
    from evsnn.tasks.gesture.metrics import ClassificationTask

    torch.manual_seed(0)
    model = build_model("gesture_sdnn", {"channels": [4, 8], "hidden": 16}, in_shape=(2, 16, 16), n_classes=4)
    xtr, ytr = _gesture_data(48, 0)
    xte, yte = _gesture_data(8, 1)
    task = ClassificationTask(4, loss_name="cross_entropy")
    model.eval()
    with torch.no_grad():
        loss0 = float(task.loss(model(xtr), ytr))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        model.train()
        for b in range(0, 48, 16):
            loss = task.loss(model(xtr[:, b:b + 16]), ytr[b:b + 16])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        loss1 = float(task.loss(model(xtr), ytr))
        acc = float((model(xte).argmax(1) == yte).float().mean())
    assert loss1 < 0.5 * loss0 and acc >= 0.75, (loss0, loss1, acc)

    summary = model.export_hdf5(tmp_path / "gesture.net")
    assert [e["type"] for e in summary["layers"]] == ["input", "conv", "pool", "conv", "pool", "flatten", "dense",
                                                      "dense"]
    y_lava, res = lava_forward(model, tmp_path / "gesture.net", xte)
    with torch.no_grad():
        y = model(xte)
    assert torch.equal(y_lava, y)                        # identical class scores, so identical predictions
    assert res.summary()["output_nonzeros"] > 0


def test_gesture_sdnn_cuba_variant_is_bit_exact(tmp_path):
    torch.manual_seed(0)
    net = {"channels": [4], "hidden": 8, "neuron": "cuba", "threshold": 0.25, "weight_scale": 4}
    model = build_model("gesture_sdnn", net, in_shape=(2, 8, 8), n_classes=3).eval()
    frames = torch.poisson(torch.full((5, 2, 2, 8, 8), 2.0))
    export_network(model, tmp_path / "g.net")
    report = compare(model, tmp_path / "g.net", slayer_input(model, frames))
    _assert_exact(report, 5)


def test_export_keeps_the_live_model_trainable_and_snaps_thresholds(tmp_path):
    blocks = _sdnn_blocks()
    for b in blocks:
        if hasattr(getattr(b, "neuron", None), "delta"):
            with torch.no_grad():
                b.neuron.delta.threshold.fill_(0.1)          # off the 1/64 grid: int(0.1 * 64) = 6
    with torch.no_grad():
        blocks[3].neuron.delta.threshold.fill_(0.005)        # a learnt threshold that fell below 1/64
    with pytest.warns(UserWarning, match=r"block\(s\) \[3\] were below 1/64"):
        summary = export_network(blocks, tmp_path / "n.net", in_shape=(2, 8, 10))
    assert summary["thresholds_raised"] == [3]
    assert summary["thresholds"] == [1 / 64, 6 / 64]
    assert quantize_thresholds(blocks)[1] == 6 / 64       # idempotent
    assert blocks[1].synapse.weight_norm_enabled             # the export worked on a copy
    with h5py.File(tmp_path / "n.net") as fh:
        w = fh["layer/1/weight"][()]
        assert np.array_equal(w, np.rint(w)) and w.min() >= -256 and w.max() <= 254
        assert int(fh["layer/1/neuron/vThMant"][()]) == 6
        assert int(fh["layer/3/neuron/vThMant"][()]) == 1
    assert summary["n_weights"] == 36 * 2 + 4 * 2 * 9 + 4 * 3 * 9 + 45 * 8 + 8 * 3
