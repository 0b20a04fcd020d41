"""evsnn.lava.netx / run / CLI: the integer synapse arithmetic, loading a FORMATS 2.11-style .net file (which
lava-dl 0.6's own loader refuses), validation errors naming the layer, worker exceptions with their traceback."""
from __future__ import annotations

import json
import multiprocessing

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("lava.lib.dl.netx")

from evsnn.errors import EvsnnError, FormatError  # noqa: E402
from evsnn.lava import netx  # noqa: E402
from evsnn.lava.run import LavaRuntimeError, quantize_input, run_netx  # noqa: E402


@pytest.fixture(autouse=True)
def _no_leaked_workers():
    yield
    assert multiprocessing.active_children() == [], "Lava worker processes were left running"


# ------------------------------------------------------------------------------------------ integer synapses
def _whc(x_chw: np.ndarray) -> np.ndarray:
    return x_chw.transpose(2, 1, 0)


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 1, 1, 1), (2, 0, 1, 1), (1, 2, 2, 2), (2, 1, 2, 1)])
def test_conv_and_conv_transpose_match_torch_exactly(stride, padding, dilation, groups):
    rng = np.random.default_rng(0)
    x = rng.integers(-2 ** 15, 2 ** 15, size=(4, 7, 9))          # graded spikes (value * 2**12)
    w = rng.integers(-128, 128, size=(6, 4 // groups, 3, 3)) * 2  # weights on slayer's 2/64 grid, x64
    geom = ((stride,) * 2, (padding,) * 2, (dilation,) * 2)
    ours = netx.synapse2d_forward("conv", _whc(x), w, (3, 3), *geom, groups)
    ref = F.conv2d(torch.tensor(x, dtype=torch.float64)[None], torch.tensor(w, dtype=torch.float64), stride=stride,
                   padding=padding, dilation=dilation, groups=groups)[0].numpy()
    assert ours.dtype == np.int64
    assert np.array_equal(ours, _whc(ref).astype(np.int64))
    wt = rng.integers(-128, 128, size=(4, 6 // groups, 3, 3)) * 2
    ours = netx.synapse2d_forward("convT", _whc(x), wt, (3, 3), *geom, groups)
    ref = F.conv_transpose2d(torch.tensor(x, dtype=torch.float64)[None], torch.tensor(wt, dtype=torch.float64),
                             stride=stride, padding=padding, dilation=dilation, groups=groups)[0].numpy()
    assert np.array_equal(ours, _whc(ref).astype(np.int64))


def test_pool_pads_odd_sizes_like_slayer():
    x = np.arange(2 * 5 * 7).reshape(2, 5, 7)
    w = np.full((2, 2), 16)                                        # average pooling: 0.25 on the 1/64 grid
    out = netx.synapse2d_forward("pool", _whc(x), w, (2, 2), (2, 2), (0, 0), (1, 1), 1).transpose(2, 1, 0)
    padded = np.zeros((2, 6, 8), dtype=np.int64)
    padded[:, :5, :7] = x
    ref = 16 * padded.reshape(2, 3, 2, 4, 2).sum(axis=(2, 4))
    assert out.shape == (2, 3, 4) and np.array_equal(out, ref)


def test_quantize_input_is_slayers_8bit_input_grid():
    from lava.lib.dl.slayer.neuron.base import Neuron

    neuron = Neuron(threshold=0.1, w_scale=64, s_scale=4096)
    x = np.array([-5.0, -4.0, -0.015625, 0.015625, 0.046875, 0.3, 1.0 / 3, 3.96875, 3.99, 10.0], dtype=np.float32)
    ref = neuron.quantize_8bit(torch.tensor(x)).numpy() * 64
    assert np.array_equal(quantize_input(x), ref.astype(np.int64))


# ------------------------------------------------------------------------------------------ writing .net files
def _write_layer(group, ltype, shape, **fields):
    group.create_dataset("type", (1,), "S10", [ltype.encode()])
    group.create_dataset("shape", data=np.array(shape))
    for key, value in fields.items():
        if key == "neuron":
            for nk, nv in value.items():
                group.create_dataset(f"neuron/{nk}", data=nv)
        else:
            group.create_dataset(key, data=value)


def _sdnn_neuron(vth=2):
    return {"type": "SDNN", "activation": "relu", "vThMant": vth}


def _conv(rng, cin, cout, k=3, stride=1, pad=1, dil=1, transposed=False, wmax=20):
    wshape = (cin, cout, k, k) if transposed else (cout, cin, k, k)
    return dict(weight=(rng.integers(-wmax, wmax + 1, size=wshape) * 2).astype(np.float32),
                bias=(rng.integers(-8, 9, size=cout) * 2).astype(np.float32), kernelSize=np.array([k, k]),
                stride=np.array([stride, stride]), padding=np.array([pad, pad]), dilation=np.array([dil, dil]),
                groups=1, inChannels=cin, outChannels=cout, neuron=_sdnn_neuron())


def write_dhp19_like(path, H=8, W=12, J=13, edit=None, wmax=20):
    """The layer list of FORMATS 2.11 (the dhp19_sdnn_min_example export) at a small spatial size: input;
    conv 16; pool 2x2 (weight 64); conv 32 x3; pool; conv 64 x4 (dilation 2, padding 2); convT 32 (2x2, stride 2);
    conv 32 x4 (dilation 2); convT 16; conv 16 x2; conv J. Weights: even integers in [-2 wmax, 2 wmax]."""
    rng = np.random.default_rng(0)

    def conv(*args, **kwargs):
        return _conv(*args, wmax=wmax, **kwargs)
    layers = [("input", (1, H, W), {"neuron": _sdnn_neuron()})]
    layers.append(("conv", (16, H, W), conv(rng, 1, 16)))
    pool = dict(weight=np.full((1, 1, 2, 2), 64.0, dtype=np.float32), kernelSize=np.array([2, 2]),
                stride=np.array([2, 2]), padding=np.array([0, 0]), dilation=np.array([1, 1]),
                neuron=_sdnn_neuron())
    layers.append(("pool", (16, H // 2, W // 2), pool))
    layers += [("conv", (32, H // 2, W // 2), conv(rng, 16 if i == 0 else 32, 32)) for i in range(3)]
    layers.append(("pool", (32, H // 4, W // 4), pool))
    layers += [("conv", (64, H // 4, W // 4), conv(rng, 32 if i == 0 else 64, 64, pad=2, dil=2)) for i in range(4)]
    layers.append(("convT", (32, H // 2, W // 2), conv(rng, 64, 32, k=2, stride=2, pad=0, transposed=True)))
    layers += [("conv", (32, H // 2, W // 2), conv(rng, 32, 32, pad=2, dil=2)) for _ in range(4)]
    layers.append(("convT", (16, H, W), conv(rng, 32, 16, k=2, stride=2, pad=0, transposed=True)))
    layers += [("conv", (16, H, W), conv(rng, 16, 16)) for _ in range(2)]
    layers.append(("conv", (J, H, W), conv(rng, 16, J)))
    if edit is not None:
        edit(layers)
    with h5py.File(path, "w") as fh:
        for i, (ltype, shape, fields) in enumerate(layers):
            _write_layer(fh.create_group(f"layer/{i}"), ltype, shape, **fields)
    return path


def test_loads_and_runs_the_formats_2_11_layer_list(tmp_path):
    path = write_dhp19_like(tmp_path / "trained_model.net")
    from lava.lib.dl.netx.hdf5 import Network

    with pytest.raises(NotImplementedError):   # what lava-dl 0.6 does with this file
        Network(net_config=str(path))

    net, infos = netx.load_network(path)
    types = [li.type for li in infos]
    assert types == (["input", "conv", "pool"] + ["conv"] * 3 + ["pool"] + ["conv"] * 4 + ["convT"] + ["conv"] * 4
                     + ["convT"] + ["conv"] * 3)
    assert len(infos) == 20 and len(net) == 20
    assert [li.lava_index for li in infos] == list(range(20))
    assert infos[11].shape == (32, 4, 6) and infos[11].params["stride"] == [2, 2]
    assert infos[7].params["dilation"] == [2, 2] and infos[-1].shape == (13, 8, 12)
    assert infos[11].n_weights == 64 * 32 * 2 * 2
    assert isinstance(infos[11].block, netx.Synapse2DBlock) and infos[11].block.synapse.proc_params["kind"] == "convT"
    info = netx.describe(path)
    assert info["latency_steps"] == 19 and info["output_shape"] == [13, 8, 12] and info["neurons"] == ["SDNN"]

    x = (np.random.default_rng(1).random((1, 8, 12, 2)) < 0.3).astype(np.float64)
    res = run_netx(path, x)
    assert res.output.shape == (1, 13, 8, 12, 2)
    assert res.lava_steps == 2 + 19 and len(res.wall_s) == 1
    assert np.count_nonzero(res.output) > 0
    # graded SDNN spikes come back in slayer units: multiples of 2**-12
    assert np.array_equal(res.output * 4096, np.rint(res.output * 4096))


def _edit_file(path, fn):
    with h5py.File(path, "r+") as fh:
        fn(fh)


def _set(key, value):
    def edit(fh):
        fh[key][...] = value
    return edit


def _replace(key, value):
    def edit(fh):
        del fh[key]
        fh.create_dataset(key, data=value)
    return edit


def _delete(key):
    def edit(fh):
        del fh[key]
    return edit


def _add_half(key):
    def edit(fh):
        fh[key][...] = fh[key][()] + 0.5
    return edit


@pytest.mark.parametrize("edit,match", [
    (_set("layer/2/type", [b"unpool"]), r"layer 2: unknown layer type 'unpool'"),
    (_set("layer/4/inChannels", 16), r"layer 4 \(conv\): inChannels=16 but the previous layer has 32 channels"),
    (_replace("layer/5/weight", np.zeros((32, 32, 5, 5), np.float32)),
     r"layer 5 \(conv\): weight shape \[32, 32, 5, 5\] does not match"),
    (_set("layer/11/shape", [32, 5, 6]), r"layer 11 \(convT\): declared output shape \[32, 5, 6\] but the layer "
                                         r"parameters give \[32, 4, 6\]"),
    (_set("layer/2/kernelSize", [3, 3]), r"layer 2 \(pool\): pool weight has 4 values"),
    (_delete("layer/8/stride"), r"layer 8 \(conv\): missing field\(s\) stride"),
    (_replace("layer/3/neuron/type", "RF"), r"layer 3 \(conv\): neuron type 'RF' is not supported"),
    (_add_half("layer/19/weight"), r"layer 19 \(conv\): weights are not integers"),
])
def test_invalid_files_name_the_layer_and_the_problem(tmp_path, edit, match):
    path = write_dhp19_like(tmp_path / "net.net")
    _edit_file(path, edit)
    with pytest.raises(FormatError, match=match) as err:
        netx.load_network(path)
    assert str(path) in str(err.value)


def test_files_that_are_not_netx(tmp_path):
    bad = tmp_path / "x.net"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(FormatError, match="not an HDF5 file"):
        netx.load_network(bad)
    with h5py.File(tmp_path / "empty.net", "w") as fh:
        fh.create_group("other")
    with pytest.raises(FormatError, match="no /layer group"):
        netx.load_network(tmp_path / "empty.net")
    with h5py.File(tmp_path / "gap.net", "w") as fh:
        _write_layer(fh.create_group("layer/0"), "input", (1, 4, 4), neuron=_sdnn_neuron())
        _write_layer(fh.create_group("layer/2"), "flatten", (16, 1, 1))
    with pytest.raises(FormatError, match=r"entries are \[0, 2\]"):
        netx.load_network(tmp_path / "gap.net")


def _tiny_net(path):
    """input (1, 6, 6) -> conv 2 -> pool -> flatten -> dense 3 (SDNN)."""
    rng = np.random.default_rng(2)
    with h5py.File(path, "w") as fh:
        _write_layer(fh.create_group("layer/0"), "input", (1, 6, 6), neuron=_sdnn_neuron())
        _write_layer(fh.create_group("layer/1"), "conv", (2, 6, 6), **_conv(rng, 1, 2))
        _write_layer(fh.create_group("layer/2"), "pool", (2, 3, 3), weight=np.full((1, 1, 2, 2), 16.0),
                     kernelSize=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]),
                     dilation=np.array([1, 1]), neuron=_sdnn_neuron())
        _write_layer(fh.create_group("layer/3"), "flatten", (18, 1, 1))
        _write_layer(fh.create_group("layer/4"), "dense", (3,), weight=(rng.integers(-30, 30, (3, 18)) * 2.0),
                     neuron=_sdnn_neuron())
    return path


def test_worker_exception_surfaces_with_its_traceback(tmp_path, monkeypatch):
    path = _tiny_net(tmp_path / "tiny.net")

    def failing_run_spk(self):
        raise ValueError("synapse exploded on purpose")

    # Lava forks its workers, so the patched model is what they run
    monkeypatch.setattr(netx.PySynapse2DModelFixed, "run_spk", failing_run_spk)
    with pytest.raises(LavaRuntimeError) as err:
        run_netx(path, np.ones((1, 6, 6, 3)))
    msg = str(err.value)
    assert isinstance(err.value, EvsnnError)
    assert str(path) in msg and "Traceback" in msg
    assert "ValueError: synapse exploded on purpose" in msg.splitlines()[0]     # the CLI's one-line summary
    assert "failing_run_spk" in msg                                             # and the worker's traceback


def test_run_checks_the_input_shape(tmp_path):
    path = _tiny_net(tmp_path / "tiny.net")
    with pytest.raises(EvsnnError, match=r"takes inputs of shape \[1, 6, 6\]"):
        run_netx(path, np.ones((2, 6, 6, 3)))


def test_cli_netx_run_and_info(tmp_path, capsys):
    from evsnn.cli import main

    path = _tiny_net(tmp_path / "tiny.net")
    assert main(["netx", "run", str(path), "--steps", "4", "--seed", "3", "--samples", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(e["type"], e["shape"]) for e in out["layers"]] == [("input", [1, 6, 6]), ("conv", [2, 6, 6]),
                                                                 ("pool", [2, 3, 3]), ("flatten", [18]),
                                                                 ("dense", [3])]
    assert out["steps"] == 4 and out["samples"] == 2 and out["output_shape"] == [2, 3, 4]
    assert out["lava_steps"] == 2 * 4 + 3 and out["latency_steps"] == 3
    assert out["output_events"] > 0 and out["wall_s"] > 0 and len(out["wall_s_per_sample"]) == 2
    assert out["input"].startswith("random binary events")

    x = np.zeros((1, 6, 6, 5))
    np.save(tmp_path / "x.npy", x)
    assert main(["netx", "run", str(path), "--input", str(tmp_path / "x.npy")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 5 and out["output_events"] > 0       # no input: the conv biases still answer (as slayer)

    assert main(["netx", "info", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["latency_steps"] == 3 and info["n_weights"] == 18 + 54

    bad = write_dhp19_like(tmp_path / "bad.net", edit=lambda layers: layers.__setitem__(
        4, ("conv", (31, 4, 6), layers[4][2])))
    assert main(["netx", "run", str(bad), "--steps", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("evsnn error: ") and "layer 4 (conv)" in err[0]


# ------------------------------------------------------------------------------- the same network in slayer
def _slayer_twin(path):
    """slayer sigma-delta blocks with the weights, biases and thresholds of a hand-written .net file: the file's
    integers are slayer's 8-bit values x 64 (weights and biases on the 2/64 grid, thresholds ``vThMant / 64``);
    conv weights (out, in, kh, kw), convT weights (in, out, kh, kw) as torch's; a conv bias is the negative
    running mean of slayer's mean-only batch norm (which exports as that bias)."""
    import functools

    from lava.lib.dl import slayer

    sd = slayer.block.sigma_delta
    blocks = []
    for raw in netx.read_layers(path):
        t, vth = raw["type"], float(np.asarray(raw["neuron"]["vThMant"])) / 64
        p = {"threshold": vth, "tau_grad": 0.5, "scale_grad": 1.0, "requires_grad": False, "shared_param": True,
             "activation": torch.nn.functional.relu}
        if t == "input":
            blocks.append(sd.Input(p))
            continue
        k, s, pad, dil = (tuple(int(v) for v in np.ravel(raw[key]))
                          for key in ("kernelSize", "stride", "padding", "dilation"))
        if t == "pool":
            blocks.append(sd.Pool(p, k, stride=s))
            assert np.all(np.asarray(raw["weight"]) == 64)   # sum pooling: slayer's weight 1, x64
            continue
        cin, cout = int(np.asarray(raw["inChannels"])), int(np.asarray(raw["outChannels"]))
        p["norm"] = functools.partial(slayer.neuron.norm.MeanOnlyBatchNorm, num_features=cout)
        cls = sd.ConvT if t == "convT" else sd.Conv
        b = cls(p, cin, cout, k, stride=s, padding=pad, dilation=dil, groups=int(np.asarray(raw["groups"])))
        w = torch.tensor(np.asarray(raw["weight"], dtype=np.float64) / 64, dtype=torch.float32)
        with torch.no_grad():
            b.synapse.weight.copy_(w.reshape(b.synapse.weight.shape))
            b.neuron.norm.running_mean.copy_(-torch.tensor(np.asarray(raw["bias"], dtype=np.float64) / 64))
        blocks.append(b)
    blocks = torch.nn.ModuleList(blocks)
    blocks.eval()
    return blocks


def test_formats_2_11_layer_list_equals_slayer_in_every_layer(tmp_path):
    """The hand-written FORMATS 2.11 file, run by evsnn's loader in Lava, against slayer running the same weights:
    every one of the 20 layers bit-exact, with real activity (not two empty outputs). Weights of +-10/64 keep every
    layer's per-step input inside Lava's 24-bit accumulator (the loader test's +-40/64 overflow it from layer 3 on:
    Lava wraps like Loihi, slayer does not, see test_lava_parity)."""
    from evsnn.lava.parity import compare

    path = write_dhp19_like(tmp_path / "trained_model.net", wmax=5)
    blocks = _slayer_twin(path)
    x = np.random.default_rng(1).random((1, 1, 8, 12, 3)) * 3.0   # [N, C, H, W, T] graded input
    report = compare(blocks, path, x)
    assert len(report["layers"]) == 20
    for e in report["layers"]:
        assert e["max_abs_diff"] == 0.0 and e["n_mismatch"] == 0, e
        assert e["nonzero_slayer"] == e["nonzero_lava"] > 0, e
    assert report["bit_exact"]
    # graded values, not 0/1 spikes, in the layers compared (the output layer included)
    assert max(e["max_abs_slayer"] for e in report["layers"][1:]) > 1.0
    assert report["layers"][-1]["max_abs_slayer"] > 0.1 and report["layers"][-1]["acc_overflows"] == 0


#: the layers of the trained dhp19_sdnn_min_example export whose vThMant is 0 (13 of its 19 non-input layers)
ZERO_VTH = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)


def _zero_thresholds(layers):
    for i in ZERO_VTH:
        layers[i][2]["neuron"] = _sdnn_neuron(0)


def test_zero_thresholds_run_and_are_reported(tmp_path):
    """Real lava-dl exports carry vThMant = 0 (a slayer threshold below 1/64): Lava sends every non-zero change;
    the file runs, and netx info / run name the layers whose float threshold was lost."""
    import json
    import subprocess
    import sys

    path = write_dhp19_like(tmp_path / "trained_model.net", edit=_zero_thresholds)
    info = netx.describe(path)
    assert info["zero_threshold_layers"] == list(ZERO_VTH) and "lost at export" in info["zero_threshold_note"]
    assert [e.get("zero_threshold", False) for e in info["layers"]] == [i in ZERO_VTH for i in range(20)]
    r = subprocess.run([sys.executable, "-m", "evsnn", "netx", "run", str(path), "--steps", "4"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["zero_threshold_layers"] == list(ZERO_VTH) and out["output_shape"] == [1, 13, 8, 12, 4]
    assert out["output_events"] > 0


def test_negative_threshold_is_refused(tmp_path):
    def edit(layers):
        layers[3][2]["neuron"] = _sdnn_neuron(-1)
    path = write_dhp19_like(tmp_path / "neg.net", edit=edit)
    with pytest.raises(FormatError, match=r"layer 3 \(conv\): SDNN threshold vThMant=-1 < 0"):
        netx.load_network(path)
