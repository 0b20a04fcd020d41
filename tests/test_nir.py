"""NIR export (evsnn.nirx): the exported file run in spikingjelly, snnTorch and Norse gives the PyTorch model's
spikes in every neuron layer; models NIR cannot express are named by layer; bad files are refused naming the node.

Tests that need a framework skip with the reason when it is not installed (pytest.importorskip)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir", reason="nir is not installed (envs/requirements.txt)")
pytest.importorskip("nirtorch", reason="nirtorch is not installed (envs/requirements.txt)")
pytest.importorskip("spikingjelly.activation_based.nir_exchange", reason="spikingjelly 2.0 with nir_exchange is "
                    "not installed")

from evsnn.nirx.deploy import compare_layers, reference_run  # noqa: E402
from evsnn.nirx.export import NotExportable, blocker, export_chain, export_model  # noqa: E402
from evsnn.nirx.frameworks import FrameworkUnavailable, run_graph  # noqa: E402
from evsnn.nirx.graph import NIRFormatError, describe, read_graph  # noqa: E402
from evsnn.tasks.gesture.models import PLIFNet  # noqa: E402

IMPORT = {"spikingjelly": "spikingjelly", "snntorch": "snntorch", "norse": "norse.torch"}


def need(framework):
    pytest.importorskip(IMPORT[framework], reason=f"{framework} is not installed (envs/requirements*.txt)")


def small_net(neuron="plif", batch_norm=False, seed=0):
    torch.manual_seed(seed)
    m = PLIFNet((2, 16, 16), 4, channels=6, n_conv=2, neuron=neuron, fc_hidden=16, voters=3, pool="avg",
                batch_norm=batch_norm)
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:  # mostly excitatory: every layer spikes, none saturates
                p.copy_((torch.rand_like(p) - 0.35) * 4 / p[0].numel() ** 0.5)
    return m.eval()


def frames(seed=1, T=6, N=3):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((T, N, 2, 16, 16), 0.6), generator=g)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    m = small_net()
    path = tmp_path_factory.mktemp("nir") / "model.nir"
    summary = export_model(m, (2, 16, 16), path)
    return m, path, summary


@pytest.mark.parametrize("framework", ["spikingjelly", "snntorch", "norse"])
def test_every_framework_reproduces_every_layer(exported, framework):
    need(framework)
    m, path, summary = exported
    x = frames()
    _, layers = export_chain(m)
    torch_out, ref, ref_steps = reference_run(m, layers, x)
    assert all(int(v.sum()) > 0 for v in ref.values()), "the test network must spike in every layer"
    out, spikes = run_graph(read_graph(path), framework, x)
    parity = compare_layers(ref, spikes)
    assert parity["identical"], parity
    assert len(parity["layers"]) == 4
    assert torch.allclose(out.mean(0), torch_out, atol=1e-6)


def test_export_names_nodes_after_layers_and_writes_the_readout(exported):
    _, path, summary = exported
    g = nir.read(path)
    kinds = {k: type(v).__name__ for k, v in g.nodes.items()}
    assert kinds["conv_0"] == "Conv2d" and kinds["conv_1"] == "LIF" and kinds["conv_2"] == "AvgPool2d"
    assert kinds["vote"] == "Linear" and "fc_1" not in kinds  # dropout left out, voting as a fixed Linear
    assert g.metadata["dt"] == pytest.approx(1e-4)
    info = describe(path)
    lif = next(n for n in info["nodes"] if n["name"] == "conv_1")
    assert lif["input"] == [6, 16, 16] and lif["v_threshold"] == 1.0 and lif["tau"] > 1e-4


def test_batch_norm_is_folded():
    m = small_net(batch_norm=True)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
    net, records = export_chain(m)
    assert records[0]["folded_batch_norm"] and records[0]["sources"] == ["conv.0", "conv.1"]
    x = torch.rand(1, 2, 16, 16)
    conv, bn = m.conv[0], m.conv[1]
    conv.step_mode = bn.step_mode = "s"
    try:
        with torch.no_grad():
            assert torch.allclose(net[0](x), bn(conv(x)), atol=1e-5)
    finally:
        conv.step_mode = bn.step_mode = "m"


def test_models_nir_cannot_express_are_named_by_layer():
    paper = PLIFNet((2, 32, 32), 11, channels=4, n_conv=2, fc_hidden=8)
    assert blocker(paper) == "MaxPool2d at conv.3"
    with pytest.raises(NotExportable, match=r"^not exportable: MaxPool2d at conv.3"):
        export_model(paper, (2, 32, 32))
    soft = PLIFNet((2, 16, 16), 4, channels=4, n_conv=1, fc_hidden=8, pool="avg")
    soft.conv[2].v_reset = None
    assert blocker(soft) == "ParametricLIFNode at conv.2"


def test_static_selection_matches_the_dynamic_check():
    from evsnn.models import nir_exportable

    for pool in ("max", "avg"):
        for bn in (True, False):
            m = PLIFNet((2, 16, 16), 4, channels=4, n_conv=1, fc_hidden=8, pool=pool, batch_norm=bn)
            assert nir_exportable("plif_net", {"pool": pool, "batch_norm": bn}) == (blocker(m) is None)


def test_lava_dl_network_is_named_not_skipped():
    pytest.importorskip("lava.lib.dl.slayer", reason="lava-dl is not installed")
    from evsnn.tasks.gesture.models import GestureSDNN

    assert blocker(GestureSDNN((2, 16, 16), 4, channels=[4], hidden=8)) == "slayer sigma_delta.Input at blocks.0"


def _chain_graph(neuron_node, n=8):
    w = np.random.default_rng(0).normal(0, 1.5, (n, n)).astype(np.float32)
    nodes = {"input": nir.Input(np.array([n])), "fc": nir.Affine(w, np.full(n, 0.3, np.float32)),
             "lif": neuron_node, "output": nir.Output(np.array([n]))}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


@pytest.mark.parametrize("kind", ["IF", "CubaLIF"])
@pytest.mark.parametrize("framework", ["spikingjelly", "snntorch", "norse"])
def test_if_and_cuba_nodes(kind, framework):
    """IF and CubaLIF as spikingjelly exports them: spikingjelly and Norse agree, snnTorch reproduces CubaLIF and
    refuses IF with its reason."""
    need(framework)
    from spikingjelly.activation_based import neuron

    from evsnn.nirx.export import DT

    n = 8
    if kind == "IF":
        node = nir.IF(r=np.full(n, 1 / DT), v_threshold=np.ones(n), v_reset=np.zeros(n))
    else:
        cuba = neuron.CUBALIFNode(c_decay=0.5, v_decay=0.75, v_threshold=1.0, v_reset=0.0)
        tau_syn, tau_mem = DT / (1 - cuba.c_decay), DT / (1 - cuba.v_decay)
        node = nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem / DT),
                           v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                           w_in=np.full(n, tau_syn / DT))
    g = _chain_graph(node, n)
    x = torch.rand(10, 2, n) * 2
    if framework == "snntorch" and kind == "IF":
        with pytest.raises(FrameworkUnavailable, match="snntorch cannot import IF nodes"):
            run_graph(g, framework, x)
        return
    ref, rs = run_graph(g, "spikingjelly", x)
    out, spikes = run_graph(g, framework, x)
    assert int(rs["lif"].sum()) > 0
    assert compare_layers(rs, spikes)["identical"]


def _write(graph, path):
    nir.write(path, graph)
    return path


def test_bad_files_name_the_node(tmp_path):
    n = 4
    lif = nir.LIF(tau=np.full(n, 2e-4), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))
    good = _chain_graph(lif, n)
    unknown = _chain_graph(lif, n)
    unknown.nodes["lif"] = nir.Threshold(np.ones(n))
    with pytest.raises(NIRFormatError, match=r"node 'lif' is a Threshold, which evsnn does not map"):
        read_graph(_write(unknown, tmp_path / "unknown.nir"))
    shapes = _chain_graph(lif, n)
    shapes.nodes["fc"] = nir.Affine(np.ones((n + 2, n), np.float32), np.zeros(n + 2, np.float32))
    with pytest.raises(NIRFormatError, match=r"inconsistent shapes: the edge fc.output: \[\[6\]\] -> lif.input: \[\[4\]\]"):
        read_graph(_write(shapes, tmp_path / "shapes.nir"))
    missing = _chain_graph(lif, n)
    missing.edges = [("input", "fc"), ("lif", "output")]
    with pytest.raises(NIRFormatError, match=r"input_lif -> lif.*fc -> output_fc.*an edge is missing"):
        read_graph(_write(missing, tmp_path / "missing.nir"))
    read_graph(_write(good, tmp_path / "good.nir"))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "evsnn", *args], capture_output=True, text=True, timeout=300)


def test_cli_info_and_run(exported, tmp_path):
    _, path, _ = exported
    info = _cli("nir", "info", str(path))
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["nodes"][1]["type"] == "Conv2d"
    x = tmp_path / "x.npy"
    np.save(x, frames(T=4, N=2).numpy())
    for fw in ("spikingjelly", "snntorch", "norse"):
        if fw != "spikingjelly":
            try:
                need(fw)
            except pytest.skip.Exception:
                continue
        run = _cli("nir", "run", str(path), "--framework", fw, "--steps", "3", "--input", str(x))
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout)
        assert out["output_shape"] == [3, 2, 4] and out["spikes"]["conv_1"] > 0


def test_cli_bad_file_one_sentence(tmp_path):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    r = _cli("nir", "info", str(bad))
    assert r.returncode == 2 and r.stderr.startswith("evsnn error: ") and "not a readable NIR file" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_table_columns(tmp_path):
    from evsnn.tables import nir_columns

    ok = {"exportable": True, "metric": "acc", "frameworks": {
        "spikingjelly": {"metric": "acc", "value": 0.625, "pytorch": 0.625,
                         "parity": {"identical": True, "summary": "5/5 layers identical"}},
        "norse": {"metric": "acc", "value": 0.5, "pytorch": 0.625,
                  "parity": {"identical": False, "summary": "4/5 layers identical", "fraction_differ": 0.001,
                             "max_abs_diff": 1.0}},
        "snntorch": {"error": "snntorch is not installed here"}}}
    (tmp_path / "ok.json").write_text(json.dumps(ok))
    row = nir_columns(tmp_path / "ok.json")
    assert row["nir_export"] == "ok" and row["nir_spikingjelly_acc"] == 0.625 and row["nir_torch_acc"] == 0.625
    assert row["nir_norse_parity"] == "4/5 layers identical; 0.1 % differ, max |diff| 1"
    assert row["nir_snntorch_parity"].startswith("not run: ")
    (tmp_path / "no.json").write_text(json.dumps({"exportable": False,
                                                  "reason": "not exportable: MaxPool2d at conv.3"}))
    assert nir_columns(tmp_path / "no.json") == {"nir_export": "not exportable: MaxPool2d at conv.3"}


def test_demo_plans_the_nir_stage(tmp_path):
    """The demo exports gesture_plif_nir and runs it; every other spiking model gets nir_check (its reason in the
    table), no model is silently left out; nir.run: false removes the stage."""
    from _workflow_helpers import copy_project, planned_jobs, smk

    wf = copy_project(tmp_path / "wf")
    jobs = planned_jobs(smk(wf, "-n", "--quiet", "rules", pythonpath=sys.path))
    assert jobs["export_nir"] == 1 and jobs["nir_run"] == 1
    # gesture_plif x3 seeds, gesture_sdnn, pose_sdnn, has_snn, has_hybrid_cnn_snn, depth_snn x2, depth_hnn x2
    assert jobs["nir_check"] == 11
    off = planned_jobs(smk(wf, "-n", "--quiet", "rules", "--config", "nir={'run': False}", pythonpath=sys.path))
    assert "export_nir" not in off and "nir_run" not in off and "nir_check" not in off
