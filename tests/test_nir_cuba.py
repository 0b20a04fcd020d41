"""NIR export of lava-dl (slayer) CUBA networks (evsnn.nirx.slayer): the file run in spikingjelly, snnTorch and Norse
against the slayer model's own spikes in every layer; what NIR cannot carry (slayer's fixed-point rounding) is
measured, not hidden; blocks NIR cannot express are refused naming the block; the workflow exports and runs a
trained CUBA gesture model (configs/demo_all_models.yaml: gesture_cuba)."""
import json
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn

nir = pytest.importorskip("nir", reason="nir is not installed (envs/requirements.txt)")
pytest.importorskip("lava.lib.dl.slayer", reason="lava-dl is not installed")
pytest.importorskip("spikingjelly.activation_based.nir_exchange", reason="spikingjelly 2.0 with nir_exchange is "
                    "not installed")

from lava.lib.dl import slayer  # noqa: E402

from evsnn.models import build_model, nir_exportable  # noqa: E402
from evsnn.nirx.deploy import compare_layers, reference_run  # noqa: E402
from evsnn.nirx.export import DT, NotExportable, blocker, export_model, layer_records  # noqa: E402
from evsnn.nirx.frameworks import FrameworkUnavailable, run_graph  # noqa: E402
from evsnn.nirx.graph import describe, read_graph  # noqa: E402
from evsnn.nirx.slayer import export_cuba, float_reference, input_off_grid  # noqa: E402

FRAMEWORKS = ["spikingjelly", "snntorch", "norse"]
IMPORT = {"spikingjelly": "spikingjelly", "snntorch": "snntorch", "norse": "norse.torch"}
SHAPE = (2, 16, 16)


def need(framework):
    pytest.importorskip(IMPORT[framework], reason=f"{framework} is not installed (envs/requirements*.txt)")


def cuba_net(current_decay, voltage_decay, seed=0):
    """A small random gesture_sdnn CUBA network: Input, {Conv, Pool} x 2, Flatten, Dense, Dense; 8-bit weights
    after weight normalisation, threshold 0.5 (every layer spikes on the frames below)."""
    torch.manual_seed(seed)
    net = {"channels": [4, 6], "hidden": 16, "neuron": "cuba", "threshold": 0.5, "weight_scale": 4,
           "current_decay": current_decay, "voltage_decay": voltage_decay, "input_scale": 0.25}
    return build_model("gesture_sdnn", net, in_shape=SHAPE, n_classes=4).eval()


def frames(seed=1, T=10, N=3):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((T, N, *SHAPE), 1.5), generator=g)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model, file, slayer output, slayer spikes per neuron node) for a memoryless and a leaky network."""
    out = {}
    for name, decays in (("memoryless", (1.0, 1.0)), ("leaky", (0.25, 0.03))):
        m = cuba_net(*decays)
        path = tmp_path_factory.mktemp("nir") / f"{name}.nir"
        export_model(m, SHAPE, path)
        torch_out, ref, _ = reference_run(m, layer_records(m, SHAPE), frames())
        assert len(ref) == 7 and all(int(v.sum()) > 0 for v in ref.values()), {k: int(v.sum()) for k, v in ref.items()}
        out[name] = (m, path, torch_out, ref)
    return out


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_memoryless_cuba_is_identical_to_slayer_in_every_layer(exported, framework):
    """current_decay = voltage_decay = 1: slayer's fixed-point states need no rounding, so weights, convolution
    layout, sum pooling, flatten order, input scale and threshold (with slayer's threshold_eps) are checked
    spike by spike against slayer itself."""
    need(framework)
    m, path, torch_out, ref = exported["memoryless"]
    out, spikes = run_graph(read_graph(path), framework, frames())
    parity = compare_layers(ref, spikes)
    assert parity["identical"], parity
    assert torch.equal(out.mean(0).reshape(torch_out.shape), torch_out)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_leaky_cuba_differs_from_slayer_only_by_its_fixed_point_rounding(exported, framework):
    """The model's default decays (0.25, 0.03): every framework gives the unrounded CUBA update's spikes exactly;
    against slayer the spikes that differ are the ones the rounding alone flips (same count per layer), and few."""
    need(framework)
    m, path, _, ref = exported["leaky"]
    x = frames()
    unrounded = float_reference(m, x)
    _, spikes = run_graph(read_graph(path), framework, x)
    assert compare_layers(unrounded, spikes)["identical"], compare_layers(unrounded, spikes)
    got, rounding = compare_layers(ref, spikes), compare_layers(ref, unrounded)
    assert [e["n_differ"] for e in got["layers"]] == [e["n_differ"] for e in rounding["layers"]]
    assert got["fraction_differ"] < 1e-3, got  # measured: 1 of 68,760 neuron steps (in blocks_1)
    assert got["layers"][0]["identical"]       # the Input neuron sees the exact input: rounding has yet to act


def test_cuba_parameters_follow_slayer():
    """tau_syn = dt / cd, tau_mem = dt / vd (decays as slayer rounds them to 1/4096), w_in = tau_syn / dt,
    r = tau_mem / dt, v_threshold = int(threshold * 64) / 64 + 0.01 / 4096, hard reset to 0."""
    m = cuba_net(0.25, 0.03)
    g, _, neurons = export_cuba(m, SHAPE)
    node = g.nodes["blocks_1"]
    vd = round(0.03 * 4096) / 4096
    assert np.allclose(node.tau_syn, DT / 0.25) and np.allclose(node.tau_mem, DT / vd)
    assert np.allclose(node.w_in, 1 / 0.25) and np.allclose(node.r, 1 / vd)
    assert np.all(node.v_threshold == 0.5 + 0.01 / 4096) and np.all(node.v_reset == 0) and np.all(node.v_leak == 0)
    assert neurons["blocks_1"] == {"current_decay": 0.25, "voltage_decay": vd, "threshold": 0.5,
                                   "v_threshold": 0.5 + 0.01 / 4096}
    w = np.asarray(g.nodes["blocks_1_syn"].weight)
    assert w.shape == (4, 2, 3, 3) and np.array_equal(w * 32, np.rint(w * 32))   # slayer's 8-bit weights
    pool = np.asarray(g.nodes["blocks_2_syn"].weight)
    assert pool.shape == (4, 4, 2, 2) and np.array_equal(pool[:, :, 0, 0], np.eye(4))
    assert np.array_equal(np.asarray(g.nodes["blocks_0_scale"].weight)[:, :, 0, 0], 0.25 * np.eye(2))
    # a learnt decay (requires_grad=True) is a value like any other: slayer's dynamics round it to an integer of 4096
    learnt = Blocks([slayer.block.cuba.Input(_p(requires_grad=True), delay_shift=False)])
    with torch.no_grad():
        learnt.blocks[0].neuron.current_decay.fill_(1023.6)
    g, _, neurons = export_cuba(learnt, (2, 4, 4))
    assert neurons["blocks_0"]["current_decay"] == 1024 / 4096 and np.allclose(g.nodes["blocks_0"].tau_syn, DT * 4)


def test_describe_and_input_quantisation(exported):
    _, path, _, _ = exported["leaky"]
    info = describe(path)
    types = [n["type"] for n in info["nodes"]]
    assert types[:3] == ["Input", "Conv2d", "CubaLIF"] and types.count("CubaLIF") == 7 and "Flatten" in types
    m = exported["leaky"][0]
    x = torch.zeros(2, 1, *SHAPE)
    x[0, 0, 0, 0, 0] = 20.0                           # 20 events x 0.25 = 5 > 3.97: the Input block clamps it
    off = input_off_grid(m, x)
    assert off["n_changed"] == 1 and off["max_abs_change"] == pytest.approx(5 - 254 / 64)


class Blocks(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        x = x.permute(1, 2, 3, 4, 0)
        for b in self.blocks:
            x = b(x)
        return x.mean(-1)


def _p(**kw):
    return {"threshold": 0.5, "current_decay": 0.25, "voltage_decay": 0.03, **kw}


def test_blocks_nir_cannot_express_are_named():
    cb = slayer.block.cuba
    off = {"delay_shift": False}

    def net(*middle, first=None):
        return Blocks([first or cb.Input(_p(), **off), *middle, cb.Flatten(), cb.Dense(_p(), 2 * 4 * 4, 3, **off)])

    assert blocker(net(cb.Conv(_p(), 2, 2, 3, padding=1, **off))) is None
    with pytest.raises(NotExportable, match=r"^not exportable: delay at blocks\.1 \(delay_shift=True"):
        export_model(net(cb.Conv(_p(), 2, 2, 3, padding=1)), (2, 4, 4))
    assert blocker(net(first=cb.Input(_p(), delay_shift=True))) == "delay at blocks.0"
    assert blocker(net(cb.Conv(_p(), 2, 2, 3, padding=1, delay=True, **off))) == "delay at blocks.1"
    cases = {
        "graded spikes": cb.Conv(_p(graded_spike=True), 2, 2, 3, padding=1, **off),
        "persistent_state": cb.Conv(_p(persistent_state=True), 2, 2, 3, padding=1, **off),
        "voltage_decay 0": cb.Conv(_p(voltage_decay=0.0), 2, 2, 3, padding=1, **off),
        "grouped convolution": cb.Conv(_p(), 2, 2, 3, padding=1, groups=2, **off),
    }
    for why, block in cases.items():
        with pytest.raises(NotExportable, match=rf"^not exportable: slayer cuba\.Conv at blocks\.1 \(.*{why}"):
            export_model(net(block), (2, 4, 4))
    overlapping = Blocks([cb.Input(_p(), **off), cb.Pool(_p(), 2, stride=1, **off)])
    assert blocker(overlapping) == "slayer cuba.Pool at blocks.1"
    sdnn = build_model("gesture_sdnn", {"channels": [4], "hidden": 8}, in_shape=(2, 8, 8), n_classes=3)
    assert blocker(sdnn) == "slayer sigma_delta.Input at blocks.0"


def test_workflow_selects_the_cuba_variant():
    for neuron in ("sdnn", "cuba"):
        net = {"channels": [4], "hidden": 8, "neuron": neuron, "threshold": 0.5}
        m = build_model("gesture_sdnn", net, in_shape=(2, 8, 8), n_classes=3)
        assert nir_exportable("gesture_sdnn", net) == (blocker(m) is None) == (neuron == "cuba")


def test_table_cell_says_what_rounding_explains(tmp_path):
    from evsnn.tables import nir_columns

    e = {"metric": "acc_pct", "value": 62.5, "pytorch": 62.5,
         "parity": {"identical": False, "summary": "4/5 layers identical", "fraction_differ": 5e-6,
                    "max_abs_diff": 1.0},
         "parity_float_reference": {"identical": True, "summary": "5/5 layers identical"}}
    (tmp_path / "m.json").write_text(json.dumps({"exportable": True, "metric": "acc_pct",
                                                 "frameworks": {"norse": e}}))
    assert nir_columns(tmp_path / "m.json")["nir_norse_parity"] == (
        "4/5 layers identical; 0.0005 % differ, max |diff| 1 (unrounded CUBA: 5/5 layers identical)")


@pytest.mark.slow
def test_workflow_exports_and_runs_the_trained_cuba_gesture_model(tmp_path):
    """gesture_cuba of configs/demo_all_models.yaml (2 epochs): rules export_nir and nir_run; every framework
    reproduces the unrounded CUBA update exactly and differs from slayer by the measured rounding only."""
    import yaml
    from _workflow_helpers import copy_project, smk

    wf = copy_project(tmp_path / "wf")
    cfg = yaml.safe_load((wf / "configs/demo_all_models.yaml").read_text())
    cfg["datasets"] = {k: v for k, v in cfg["datasets"].items() if v["kind"] == "dvsgesture"}
    cfg["frames"] = {k: v for k, v in cfg["frames"].items() if v["dataset"] in cfg["datasets"]}
    cfg["models"] = {"gesture_cuba": cfg["models"]["gesture_cuba"]}
    cfg["models"]["gesture_cuba"]["train"]["epochs"] = 2
    (wf / "cuba.yaml").write_text(yaml.safe_dump(cfg))
    smk(wf, "results/nir/gesture_cuba/metrics.json", "--configfile", "cuba.yaml", timeout=900, pythonpath=sys.path)
    m = json.loads((wf / "results/nir/gesture_cuba/metrics.json").read_text())
    assert m["exportable"] and m["arch"] == "gesture_sdnn" and m["n_samples"] > 0
    rounding = m["slayer"]["float_reference_vs_slayer"]
    for fw in FRAMEWORKS:
        e = m["frameworks"][fw]
        assert "error" not in e, e
        assert e["parity_float_reference"]["identical"], (fw, e["parity_float_reference"])
        assert e["parity"]["fraction_differ"] == rounding["fraction_differ"] < 1e-3, (fw, e["parity"])
    summary = json.loads((wf / "results/nir/gesture_cuba/export.json").read_text())
    assert list(summary["nodes"].values()).count("CubaLIF") == 5 and summary["source"] == "lava-dl slayer CUBA blocks"


def test_per_channel_decays(tmp_path):
    """shared_param=False: per-neuron CubaLIF arrays; snnTorch and Norse give the unrounded update exactly,
    spikingjelly's importer (one value per layer) refuses the file with its reason; before slayer has drawn the
    decays (first forward pass) the export is refused."""
    for fw in ("snntorch", "norse"):
        need(fw)
    cb, off = slayer.block.cuba, {"delay_shift": False}
    torch.manual_seed(0)
    per_channel = _p(shared_param=False, current_decay=(0.1, 0.4), voltage_decay=(0.02, 0.2))
    m = Blocks([cb.Input(_p(), **off), cb.Conv(per_channel, 2, 4, 3, padding=1, weight_scale=4, **off),
                cb.Flatten(), cb.Dense(_p(), 64, 3, weight_scale=4, **off)]).eval()
    with pytest.raises(NotExportable, match=r"at blocks\.1 \(per-channel decays .* not drawn yet"):
        export_model(m, (2, 4, 4))
    x = torch.poisson(torch.full((10, 2, 2, 4, 4), 1.5), generator=torch.Generator().manual_seed(1))
    m(x)
    assert np.unique(export_cuba(m, (2, 4, 4))[0].nodes["blocks_1"].tau_syn).size == 4
    export_model(m, (2, 4, 4), tmp_path / "pc.nir")
    g, unrounded = read_graph(tmp_path / "pc.nir"), float_reference(m, x)
    for fw in ("snntorch", "norse"):
        parity = compare_layers(unrounded, run_graph(g, fw, x)[1])
        assert parity["identical"] and int(unrounded["blocks_1"].sum()) > 0, (fw, parity)
    with pytest.raises(FrameworkUnavailable, match="spikingjelly cannot import this graph: .*uniform"):
        run_graph(g, "spikingjelly", x)
