"""Issue 17, a researcher's tools: readable training progress, starting from another model of the config, what
exists (`evsnn models`, `--version`, `netx info --short`), predicting on a new recording, the results summary the
report opens on, and the fixed figures."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from evsnn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


# --- 7: one line per epoch -------------------------------------------------------------------------------------

def test_epoch_line_has_losses_metrics_time_and_eta():
    from evsnn.train import _epoch_line

    row = {"epoch": 2, "train_loss": 0.41, "train_acc": 0.8, "val_loss": 0.5, "val_acc": 0.75,
           "test_loss": 0.52, "test_acc": 0.74, "seconds": 75.0}
    line = _epoch_line(2, 10, row, ("acc",), [70.0, 80.0, 75.0])
    assert line.startswith("epoch 3/10: train loss 0.41 acc 80.00 % | val loss 0.5 acc 75.00 % | test loss 0.52 "
                           "acc 74.00 %")
    assert "1 min 15 s" in line and "ETA 8 min 45 s" in line and "\r" not in line
    assert _epoch_line(9, 10, row, ("acc",), [75.0]).endswith("done")
    nan = dict(row, train_loss=float("nan"), train_acc=float("nan"))  # epochs 0: no training pass
    assert "train" not in _epoch_line(0, 0, nan, ("acc",), [1.0]).split(":", 1)[1]


def test_no_progress_bar_in_a_log_file(tmp_path, monkeypatch):
    from evsnn import train

    with open(tmp_path / "log", "w") as fh:
        monkeypatch.setattr(sys, "stderr", fh)
        assert not train._interactive()


# --- 5: train.init names a model, mismatches name the layer -----------------------------------------------------

def test_state_mismatch_names_the_first_layer():
    from evsnn.train import state_mismatch

    want = {"conv.0.weight": torch.zeros(8, 2, 3, 3), "fc.weight": torch.zeros(11, 64), "fc.bias": torch.zeros(11)}
    assert state_mismatch(want, dict(want)) is None
    bad = dict(want, **{"fc.weight": torch.zeros(11, 32)})
    msg = state_mismatch(want, bad)
    assert msg == "first mismatching layer fc: fc.weight has shape (11, 32) in the file and (11, 64) in this model"
    assert "missing fc.bias" in state_mismatch(want, {k: v for k, v in want.items() if k != "fc.bias"})
    assert "extra.weight" in state_mismatch(want, dict(want, **{"extra.weight": torch.zeros(1)}))


def test_load_init_refuses_a_file_of_other_shapes(tmp_path):
    from evsnn.models import build_model
    from evsnn.train import load_init

    net = {"channels": 4, "n_conv": 1, "fc_hidden": 16, "voters": 2}
    small = build_model("plif_net", net, in_shape=(2, 16, 16), n_classes=3)
    torch.save({"arch": "plif_net", "state_dict": small.state_dict()}, tmp_path / "m.pt")
    other = build_model("plif_net", {**net, "fc_hidden": 32}, in_shape=(2, 16, 16), n_classes=3)
    with pytest.raises(ConfigError) as err:
        load_init(other, str(tmp_path / "m.pt"), "plif_net")
    msg = str(err.value)
    assert str(tmp_path / "m.pt") in msg and "first mismatching layer" in msg and "(32," in msg and "\n" not in msg


def _demo_config():
    import yaml

    return yaml.safe_load((ROOT / "config.yaml").read_text())


def _validate(cfg):
    from evsnn.config import validate_config

    return validate_config(cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")


def test_init_may_name_another_model():
    cfg = _demo_config()
    cfg["models"]["gesture_sdnn_ft"] = copy.deepcopy(cfg["models"]["gesture_sdnn"])
    cfg["models"]["gesture_sdnn_ft"]["train"].update(init="gesture_sdnn", epochs=0)
    out = _validate(cfg)
    assert out["models"]["gesture_sdnn_ft"]["train"]["init"] == "gesture_sdnn"


@pytest.mark.parametrize("mutate, expect", [
    (lambda m: m["gesture_sdnn"]["train"].update(init="gesture_sdnn"), "names the model itself"),
    (lambda m: m["gesture_sdnn"]["train"].update(init="pose_cnn"), "a dhp19_cnn model; this model's arch is "
                                                                    "gesture_sdnn"),
    (lambda m: (m.__setitem__("g2", copy.deepcopy(m["gesture_sdnn"])), m["g2"]["train"].update(init="gesture_sdnn"),
                m["gesture_sdnn"]["train"].update(init="g2")), "cycle of starting weights"),
])
def test_bad_init_model_is_one_sentence(mutate, expect):
    cfg = _demo_config()
    mutate(cfg["models"])
    with pytest.raises(ConfigError, match=expect) as err:
        _validate(cfg)
    assert "\n" not in str(err.value)


def test_train_job_depends_on_the_init_model(tmp_path):
    """A dry run: the train job of a model whose init names another model reads that model's model.pt."""
    import yaml
    from _workflow_helpers import copy_project, smk

    wf = copy_project(tmp_path / "wf")
    cfg = _demo_config()
    cfg["models"] = {"gesture_sdnn": cfg["models"]["gesture_sdnn"]}
    cfg["models"]["gesture_sdnn_ft"] = copy.deepcopy(cfg["models"]["gesture_sdnn"])
    cfg["models"]["gesture_sdnn_ft"]["train"].update(init="gesture_sdnn", epochs=1)
    (wf / "one.yaml").write_text(yaml.safe_dump(cfg))
    proc = smk(wf, "results/models/gesture_sdnn_ft/model.pt", "-n", "--configfile", "one.yaml")
    text = proc.stdout + proc.stderr
    ft = text[text.index("output: results/models/gesture_sdnn_ft/model.pt") - 300:]
    assert "results/models/gesture_sdnn/model.pt" in ft.split("output:")[0]  # the input line of its train job
    assert text.count("rule train:") == 2
    assert text.count("rule train:") == 2


# --- 6: what exists ------------------------------------------------------------------------------------------

def test_models_lists_every_architecture_with_paper_parameter_counts():
    from evsnn.catalog import catalog, format_catalog
    from evsnn.models import static_registry

    rows = {r["arch"]: r for r in catalog()}
    assert set(rows) == set(static_registry())
    assert rows["has_cnn"]["parameters"] == 19_818_669 and rows["has_cnn"]["kind"] == "conventional"
    assert rows["has_hybrid_cnn_snn"]["parameters"] == 24_780_845 and rows["has_hybrid_cnn_snn"]["kind"] == "hybrid"
    assert rows["plif_net"]["kind"] == "spiking" and rows["dhp19_cnn"]["parameters"] == 218_592
    assert rows["gesture_sdnn"]["lava"] and rows["dhp19_sdnn"]["lava"] and not rows["plif_net"]["lava"]
    assert all(r["parameters"] for r in rows.values()), [r for r in rows.values() if not r["parameters"]]
    text = format_catalog(list(rows.values()))
    assert "19,818,669" in text and len(text.splitlines()) == len(rows) + 6
    assert rows["has_hybrid_cnn_rnn"]["kind"] == "conventional" and rows["depth_hybrid"]["kind"] == "hybrid"


def test_cli_version_and_models():
    env_py = [sys.executable, "-m", "evsnn"]
    out = subprocess.run([*env_py, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith("evsnn ")
    out = subprocess.run([*env_py, "models", "--task", "gesture"], capture_output=True, text=True, check=True)
    assert "plif_net" in out.stdout and "pose" not in out.stdout.split("parameters:")[0]


def test_netx_info_short_is_one_screen():
    from evsnn.cli import netx_short

    layers = [{"index": 0, "type": "input", "shape": [2, 32, 32], "in_shape": [2, 32, 32], "neuron": "SDNN",
               "threshold": 0.015625}]
    layers += [{"index": i, "type": "conv", "shape": [8, 32, 32], "in_shape": [2, 32, 32], "neuron": "SDNN",
                "threshold": 0.0625, "n_weights": 144, "kernel": [3, 3], "stride": [1, 1]} for i in range(1, 30)]
    info = {"file": "n.net", "layers": layers, "input_shape": [2, 32, 32], "output_shape": [11],
            "n_weights": 29 * 144, "lava_layers": 30, "latency_steps": 29, "neurons": ["SDNN"]}
    text = netx_short(info)
    assert len(text.splitlines()) == 32 and "2x32x32 -> 8x32x32" in text and "0.0625" in text
    assert text.splitlines()[0].startswith("n.net: 30 layers")


# --- 4: predict -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gesture_model(tmp_path_factory):
    from evsnn.models import build_model

    d = tmp_path_factory.mktemp("models") / "g"
    d.mkdir()
    net = {"channels": 4, "n_conv": 1, "fc_hidden": 16, "voters": 2}
    model = build_model("plif_net", net, in_shape=(2, 32, 32), n_classes=3)
    torch.save({"arch": "plif_net", "task": "gesture", "net": net, "in_shape": [2, 32, 32], "n_classes": 3,
                "state_dict": model.state_dict(), "epoch": 0}, d / "model.pt")
    frames = {"kind": "dvsgesture", "T": 4, "split_by": "number", "downsample": 4, "H": 32, "W": 32,
              "sensor_h": 128, "sensor_w": 128, "class_names": "a,b,c"}
    (d / "summary.json").write_text(json.dumps({"arch": "plif_net", "task": "gesture", "frames": frames}))
    return d


def _recording(path, W=128, H=128, n=20_000, polarities=2, seed=0):
    from evsnn.events import make_events
    from evsnn.io.aedat3 import write_aedat3

    rng = np.random.default_rng(seed)
    ev = make_events(rng.integers(0, W, n), rng.integers(0, H, n), np.sort(rng.integers(0, 3_000_000, n)),
                     rng.integers(0, polarities, n))
    return write_aedat3(path, ev)


def test_predict_gesture_writes_one_row_per_window(tmp_path, gesture_model):
    from evsnn.predict import predict

    rec = _recording(tmp_path / "new.aedat")
    res = predict(gesture_model, rec, tmp_path / "out", window_ms=500, clip=False)
    df = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert res["windows"] == len(df) == 6 and set(df["class_name"]) <= {"a", "b", "c"}
    assert (df["score"] > 0).all() and (df["end_us"] > df["start_us"]).all()


def capture_clip_texts(monkeypatch):
    """Every text drawn on each frame of the next clip (figure texts and titles, axes titles, legend entries):
    {frame: [texts]}."""
    import evsnn.plots

    frames = {}
    orig = evsnn.plots.save_clip

    def spy(fig, update, n_frames, *args, **kw):
        def record(i):
            out = update(i)
            found = [t.get_text() for t in fig.texts]
            if fig._suptitle is not None:
                found.append(fig._suptitle.get_text())
            for ax in fig.axes:
                found.append(ax.get_title())
                leg = ax.get_legend()
                if leg is not None:
                    found += [t.get_text() for t in leg.get_texts()]
            frames[i] = [s for s in found if s]
            return out

        return orig(fig, record, n_frames, *args, **kw)

    monkeypatch.setattr(evsnn.plots, "save_clip", spy)
    return frames


def test_predict_gesture_clip_shows_the_true_and_predicted_class(tmp_path, gesture_model, monkeypatch):
    """The clip of predict: up to 6 windows (one panel each) over the T time steps at 3 frames/s, each panel with
    the true class (--label, else "unknown"), the predicted class of the CSV and the time its frame covers."""
    from PIL import Image

    from evsnn.io import read_events
    from evsnn.predict import PredictError, predict

    rec = _recording(tmp_path / "new.aedat", n=40_000)
    texts = capture_clip_texts(monkeypatch)
    res = predict(gesture_model, rec, tmp_path / "out", window_ms=300, label="b")
    df = pd.read_csv(tmp_path / "out" / "predictions.csv")
    gif, page = tmp_path / "out" / "clip.gif", tmp_path / "out" / "clip.html"
    assert res["outputs"] == [str(tmp_path / "out" / "predictions.csv"), str(gif), str(page)]
    assert len(df) == res["windows"] == 10 and (df["label"] == "b").all()
    assert res["accuracy"] == (df["class_name"] == "b").mean()
    im = Image.open(gif)
    assert im.n_frames == 4 == len(texts) and im.info["duration"] == 330 and gif.stat().st_size < 2_000_000
    picked = np.linspace(0, 9, 6).round().astype(int)  # 6 windows spread over the recording
    ev, _ = read_events(rec)
    t = np.sort(ev["t"])
    for step in (0, 3):
        panels = [s for s in texts[step] if s.startswith("true: ")]
        assert len(panels) == 6
        assert any(f"time step {step + 1}/4 at 3 frames/s" in s for s in texts[step])
        for text, w in zip(panels, picked):
            tw = t[(t >= df["start_us"][w]) & (t < df["start_us"][w] + 300_000)]
            q = len(tw) // 4  # split by number: step j holds the events q * j .. q * (j + 1) - 1 (the last: to the end)
            a, b = tw[q * step] - t[0], tw[q * (step + 1) - 1 if step < 3 else -1] - t[0]
            assert text == (f"true: b\npredicted: {df['class_name'][w]}\n"
                            f"t = {a / 1e6:.3f}-{b / 1e6:.3f} s ({(b - a) / 1000:.3g} ms)")
    assert "3 frames/s" in page.read_text() and "--label b" in page.read_text()
    # without a label the truth is unknown; a label must be one of the model's classes
    texts.clear()
    predict(gesture_model, rec, tmp_path / "nolabel", window_ms=300)
    assert all(s.startswith("true: unknown\npredicted: ") for s in texts[0] if s.startswith("true"))
    assert "label" not in pd.read_csv(tmp_path / "nolabel" / "predictions.csv").columns
    with pytest.raises(PredictError, match=r"--label z is not a class of the model in .*summary.json \(its classes: "
                                           r"a, b, c\)"):
        predict(gesture_model, rec, tmp_path / "o", label="z")
    out = subprocess.run([sys.executable, "-m", "evsnn", "predict", str(gesture_model), str(rec), "--out",
                          str(tmp_path / "noclip"), "--window-ms", "300", "--label", "c", "--no-clip"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["label"] == "c" and res["outputs"] == [str(tmp_path / "noclip" / "predictions.csv")]
    assert not (tmp_path / "noclip" / "clip.gif").exists()


def test_predict_refuses_what_does_not_fit(tmp_path, gesture_model):
    from evsnn.predict import PredictError, predict

    one = _recording(tmp_path / "one_polarity.aedat", polarities=1)
    with pytest.raises(PredictError, match="one polarity only; the model takes 2 polarity channels") as err:
        predict(gesture_model, one, tmp_path / "o")
    assert str(one) in str(err.value)
    empty = tmp_path / "unfinished"
    empty.mkdir()
    (empty / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(PredictError, match="holds no finished model .a checkpoint.pt is there"):
        predict(empty, one, tmp_path / "o")
    out = subprocess.run([sys.executable, "-m", "evsnn", "predict", str(empty), str(one)], capture_output=True,
                         text=True)
    assert out.returncode == 2 and out.stderr.startswith("evsnn error: ") and len(out.stderr.splitlines()) == 1


def test_predict_refuses_another_sensor_size(tmp_path, gesture_model):
    from evsnn.events import make_events
    from evsnn.io.aedat2 import write_aedat2
    from evsnn.predict import PredictError, predict

    rng = np.random.default_rng(0)
    n = 5000
    ev = make_events(rng.integers(0, 346, n), rng.integers(0, 260, n), np.sort(rng.integers(0, 10**6, n)),
                     rng.integers(0, 2, n))
    rec = write_aedat2(tmp_path / "davis.aedat", ev, layout="davis346")
    with pytest.raises(PredictError, match=r"is a 346x260 recording .*trained on 128x128") as err:
        predict(gesture_model, rec, tmp_path / "o")
    assert str(rec) in str(err.value)


# --- 1: the results summary and the tables ----------------------------------------------------------------------

def _headline(tmp_path):
    rec = {"title": "DVS128 Gesture: test accuracy (%)", "lower_is_better": False, "energy_col": "energy_mJ_fp32",
           "energy_model": "horowitz45_fp32", "energy_label": "fp32 arithmetic, 45 nm (Horowitz 2014)",
           "metrics": [{"column": "test_acc_max", "label": "test accuracy (%)"}],
           "rows": [{"model": "gesture_plif", "n_seeds": 3, "energy_mJ": 0.0111,
                     "metrics": {"test_acc_max": {"mean": 76.52, "std": 1.2, "ci95": 2.98, "published": None}},
                     "lava": None},
                    {"model": "gesture_sdnn", "n_seeds": 1, "energy_mJ": 0.00118,
                     "metrics": {"test_acc_max": {"mean": 94.7, "std": None, "ci95": None, "published": None}},
                     "lava": {"metric": "acc_pct", "lava": 75.0, "pytorch": 75.0, "parity": "7/7 layers bit-exact"}}],
           "published": [{"model": "PLIF", "column": "test_acc_max", "value": 97.57, "unit": "%", "source": "Fang 2021",
                          "verified": True}],
           "samples": {"n_train": 220, "n_val": 44, "n_test": 132}}
    path = tmp_path / "gesture_headline.json"
    path.write_text(json.dumps(rec))
    return path


def test_summary_shows_headline_spread_energy_lava_published_and_data(tmp_path):
    from evsnn.summary import write_summary

    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": {"a.aedat": 2_000_000, "b.aedat": 1_500_000},
                                    "raw_files": ["a.aedat", "b.aedat"], "source": "synthetic"}))
    tasks = [{"task": "gesture", "title": "DVS128 Gesture", "headline": str(_headline(tmp_path)),
              "energy_png": str(tmp_path / "none.png"),
              "datasets": [{"name": "dvsgesture", "kind": "dvsgesture", "source": "synthetic", "path": None,
                            "manifest": str(manifest)}]}]
    write_summary(tasks, tmp_path / "summary.html", tmp_path / "body.html")
    body = (tmp_path / "body.html").read_text()
    assert body.startswith('<div class="evsnn-summary">') and "<html" not in body
    assert "76.52 ± 1.20" in body and "95 % CI ± 2.98, n = 3" in body
    assert "75.00 % vs 75.00 %" in body and "7/7 layers bit-exact" in body
    assert "published: PLIF" in body and "97.57" in body and "Fang 2021 (verified)" in body
    assert "synthetic demo data" in body and "2 raw files, 3.5 MB" in body and "220 training / 44 validation / 132 test" in body
    assert "fp32 arithmetic, 45 nm" in body
    page = (tmp_path / "summary.html").read_text()
    assert page.startswith("<!doctype html>") and "<title>Results summary</title>" in page


def test_wide_table_has_a_compact_view_and_the_full_table_one_click_away(tmp_path):
    from evsnn.tables import compact_columns, write_html_table
    from evsnn.tasks import TableSpec

    cols = {f"col{i}": [i, i + 1] for i in range(20)}
    df = pd.DataFrame({"model": ["a", "b"], "n_seeds": [3, 1], "acc": [90.0, 80.0], "acc_std": [1.0, None],
                       "energy_mJ_fp32": [0.1, 0.2], "lava_acc_pct": [None, 75.0], "lava_s_per_sample": [None, 0.1],
                       **cols})
    spec = TableSpec(df, "T", [], energy_col="energy_mJ_fp32", metric_col="acc", ylabel="accuracy (%)")
    compact = compact_columns(df, spec)
    assert compact == ["model", "n_seeds", "acc", "acc_std", "energy_mJ_fp32", "lava_acc_pct"]
    write_html_table(df, tmp_path / "t.html", "T", compact=compact, csv_name="t.csv")
    page = (tmp_path / "t.html").read_text()
    assert page.count('<table class="evsnn">') == 2 and '<details id="full">' in page
    assert 'download="t.csv" href="data:text/csv;base64,' in page and "all 27 columns" in page


def test_gesture_lava_accuracy_is_a_percentage():
    from evsnn.tasks.gesture.lava import lava_metrics

    out = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    m = lava_metrics(out, out, None, None, np.array([0, 1, 1, 0]), None, None)
    assert m["metric"] == "acc_pct" and m["lava"] == m["pytorch"] == 75.0 and m["prediction_agreement_pct"] == 100.0


# --- 3: figures -------------------------------------------------------------------------------------------------

def test_pose_figures(tmp_path):
    from evsnn.tasks.pose.evaluate import sensor_frame, skipped_movements
    from evsnn.tasks.pose.plots import plot_per_movement

    f = sensor_frame(np.ones((32, 40)), {"downsample": 8, "crop": "[2, 12, 256, 320]"})
    assert f.shape == (260, 344) and f[2:258, 12:332].all() and f.sum() == 256 * 320
    attrs = {"skipped_recordings": json.dumps(["S13_session1_mov3", "S1_session1_mov1"])}
    assert skipped_movements(attrs, {1, 2}) == {3: "skipped (preprocessing)"}
    plot_per_movement({1: np.array([80.0, 82.0]), 2: np.array([60.0])}, tmp_path / "pm.png",
                      skipped={3: "skipped (preprocessing)"})
    assert (tmp_path / "pm.png").stat().st_size > 5000


def test_energy_plot_names_its_energy_model(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from evsnn import plots

    seen = {}
    orig = plots._save

    def keep(fig, path):
        ax = fig.axes[0]
        seen["xlabel"] = ax.get_xlabel()
        fig.canvas.draw()
        seen["ticks"] = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        orig(fig, path)

    plots._save = keep
    try:
        df = pd.DataFrame({"model": ["a", "b"], "e": [0.01, 0.3], "m": [80.0, 90.0]})
        plots.plot_metric_vs_energy(df, "e", "m", tmp_path / "e.png", xlabel="energy per inference (mJ), energy "
                                    "model: fp32 arithmetic, 45 nm (Horowitz 2014)")
    finally:
        plots._save = orig
    assert "fp32" in seen["xlabel"]
    assert seen["ticks"] and not any("10^" in t or "$" in t for t in seen["ticks"]), seen


# --- 2: clips ---------------------------------------------------------------------------------------------------

def test_gesture_clip_is_an_animated_gif_in_a_page(tmp_path):
    from PIL import Image

    from evsnn.plots import plot_gesture_clip

    rng = np.random.default_rng(0)
    frames = rng.poisson(0.3, (4, 5, 2, 16, 16))
    plot_gesture_clip(frames, [0, 1, 2, 0], [0, 1, 1, 0], ["a", "b", "c"], tmp_path / "clip.gif",
                      tmp_path / "clip.html", title="m")
    im = Image.open(tmp_path / "clip.gif")
    assert im.n_frames == 5 and im.size[0] > 300
    page = (tmp_path / "clip.html").read_text()
    assert page.startswith("<!doctype html>") and 'src="data:image/gif;base64,' in page


def test_depth_clip_shows_consecutive_test_samples_in_time_order(tmp_path):
    """The depth evaluate stage's clip: consecutive samples of the first test sequence (in time order, whatever the
    cache order), one per frame at 5 frames/s, events / prediction / ground truth side by side, in a page."""
    from PIL import Image

    from evsnn.data import FrameCacheDataset, FrameCacheWriter
    from evsnn.tasks.depth import evaluate as ev

    rng = np.random.default_rng(0)
    order = [3, 0, 2, 1, 4]
    w = FrameCacheWriter(tmp_path / "test.h5", (2, 4, 8, 12), {"kind": "mvsec"})
    for i in order:
        w.add(rng.poisson(0.5, (2, 4, 8, 12)), np.full((8, 12), 1.0 + i, np.float32), "indoor_flying1/0000",
              (50_000 * i, 50_000 * (i + 1)))
    w.add(rng.poisson(0.5, (2, 4, 8, 12)), np.full((8, 12), 9.0, np.float32), "indoor_flying2/0000", (0, 50_000))
    w.close()
    ds = FrameCacheDataset(tmp_path / "test.h5")
    gt = np.stack([np.full((8, 12), 1.0 + i, np.float32) for i in order] + [np.full((8, 12), 9.0, np.float32)])
    seen = {}
    orig = ev.plot_depth_clip

    def spy(events, pred, gt, start_us, end_us, *args, **kw):
        seen.update(pred=np.asarray(pred), start=np.asarray(start_us), sequence=kw.get("sequence"))
        return orig(events, pred, gt, start_us, end_us, *args, **kw)

    ev.plot_depth_clip = spy
    try:
        ev.depth_clip(ds, gt + 0.1, gt, tmp_path / "clip.gif", tmp_path / "clip.html", title="m")
    finally:
        ev.plot_depth_clip = orig
    assert seen["start"].tolist() == [0, 50_000, 100_000, 150_000, 200_000] and seen["sequence"] == "indoor_flying1"
    assert np.allclose(seen["pred"][:, 0, 0], [1.1, 2.1, 3.1, 4.1, 5.1])
    im = Image.open(tmp_path / "clip.gif")
    assert im.n_frames == 5 and im.size[0] > 600 and im.info["duration"] == 200
    page = (tmp_path / "clip.html").read_text()
    assert 'src="data:image/gif;base64,' in page and "5 frames/s" in page and "50 ms" in page
