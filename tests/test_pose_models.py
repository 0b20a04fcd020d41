"""Pose (DHP19) models and the Keras DHP_CNN.model importer.

The importer is checked against an independent numpy implementation of the Keras network (Keras/TensorFlow
'same' convolution and transposed convolution written from their definitions); that numpy implementation is
itself pinned to TensorFlow by a small golden case computed once with TensorFlow 2.21 (integer data, exact).
"""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
import torch.nn as nn

from evsnn.errors import ConfigError, FormatError
from evsnn.models import available_archs, build_model, check_net_kwargs

torch.set_num_threads(2)

POSE_ARCHS = ["dhp19_cnn", "dhp19_snn", "hybrid_cnn_snn", "dhp19_rnn", "cnn_rnn", "dhp19_sdnn"]
TINY = (1, 16, 20)  # C, H, W (H, W multiples of 4)
J = 3

# FORMATS 2.10, written out here (not taken from evsnn) so the test is independent of the code it checks:
# name, Keras class, kernel shape, dilation; pool1 after conv1, pool2 after conv2d.
KERAS_LAYERS = [
    ("conv1", "Conv2D", (3, 3, 1, 16), 1),
    ("conv2a", "Conv2D", (3, 3, 16, 32), 1), ("conv2b", "Conv2D", (3, 3, 32, 32), 1),
    ("conv2d", "Conv2D", (3, 3, 32, 32), 1),
    ("conv3a", "Conv2D", (3, 3, 32, 64), 2), ("conv3b", "Conv2D", (3, 3, 64, 64), 2),
    ("conv3c", "Conv2D", (3, 3, 64, 64), 2), ("conv3d", "Conv2D", (3, 3, 64, 64), 2),
    ("conv3_up", "Conv2DTranspose", (3, 3, 32, 64), 1),
    ("conv4a", "Conv2D", (3, 3, 32, 32), 2), ("conv4b", "Conv2D", (3, 3, 32, 32), 2),
    ("conv4c", "Conv2D", (3, 3, 32, 32), 2), ("conv4d", "Conv2D", (3, 3, 32, 32), 2),
    ("conv4_up", "Conv2DTranspose", (3, 3, 16, 32), 1),
    ("conv5a", "Conv2D", (3, 3, 16, 16), 1), ("conv5d", "Conv2D", (3, 3, 16, 16), 1),
    ("pred_cube", "Conv2D", (3, 3, 16, 13), 1),
]
POOL_AFTER = {"conv1", "conv2d"}


def _frames(T=3, N=2, shape=TINY, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, N, *shape, generator=g)


# ------------------------------------------------------------------------------------------------ registry / CNN
def test_pose_archs_are_registered():
    assert set(POSE_ARCHS) <= set(available_archs("pose"))
    assert check_net_kwargs("dhp19_cnn", {"base_channels": 4, "per_step": True}) is None
    assert "unknown argument" in check_net_kwargs("dhp19_cnn", {"channels": 4})


def test_dhp19_cnn_has_the_papers_218592_weights_in_17_layers():
    from evsnn.tasks.pose.models import count_weights

    model = build_model("dhp19_cnn", {}, in_shape=(1, 260, 344), n_classes=13)
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert [n for n, _ in convs] == [name for name, *_ in KERAS_LAYERS]
    assert len(convs) == 17
    assert count_weights(model) == 218_592
    assert sum(p.numel() for p in model.parameters()) == 218_592  # no biases, nothing else
    assert all(m.bias is None for _, m in convs)
    assert sum(isinstance(m, nn.ConvTranspose2d) for _, m in convs) == 2


def test_dhp19_cnn_last_frame_and_per_step():
    x = _frames(T=3)
    model = build_model("dhp19_cnn", {"base_channels": 2}, in_shape=TINY, n_classes=J).eval()
    y = model(x)
    assert y.shape == (2, J, 16, 20)
    assert torch.allclose(y, model(x[-1]))               # the last frame only
    assert (y >= 0).all()                                # ReLU on the output layer too
    model.per_step = True
    ys = model(x)
    assert ys.shape == (3, 2, J, 16, 20)
    assert torch.allclose(ys[0], model(x[0]))


@pytest.mark.parametrize("arch", POSE_ARCHS)
def test_every_arch_builds_tiny_and_trains(arch):
    torch.manual_seed(0)   # the weights: gradients must be non-zero
    x = _frames(T=3)
    for per_step in (False, True):
        model = build_model(arch, {"base_channels": 2, "per_step": per_step}, in_shape=TINY, n_classes=J)
        y = model(x)
        assert y.shape == ((3, 2, J, 16, 20) if per_step else (2, J, 16, 20)), (arch, per_step)
        assert torch.isfinite(y).all()
        y.square().mean().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0, arch


@pytest.mark.parametrize("arch", POSE_ARCHS)
def test_input_size_must_be_divisible_by_4(arch):
    with pytest.raises(ConfigError, match=r"multiples of 4.*18x20"):
        build_model(arch, {"base_channels": 2}, in_shape=(1, 18, 20), n_classes=J)


@pytest.mark.parametrize("arch, net, can_be_negative", [
    ("dhp19_cnn", {}, False),                          # as published: ReLU on the heatmaps
    ("dhp19_cnn", {"output_relu": False}, True),
    ("dhp19_rnn", {}, True),                           # recurrent models: linear heatmap layer
    ("cnn_rnn", {}, True),
])
def test_heatmap_layer_activation(arch, net, can_be_negative):
    """A ReLU on the heatmap layer can switch a joint off for good under spatial_ce (all-zero map: no gradient,
    argmax in the corner); the trainable variants keep that layer linear."""
    torch.manual_seed(0)
    model = build_model(arch, dict(net, base_channels=4), in_shape=(1, 16, 16), n_classes=13)
    with torch.no_grad():
        out = model(torch.rand(3, 2, 1, 16, 16) * 4)
    assert bool((out < 0).any()) == can_be_negative


def test_cnn_rnn_gates_do_not_saturate_on_raw_frame_values():
    """The CNN-RNN normalises the encoder features before its ConvGRU: DHP19 frames are 0..255."""
    torch.manual_seed(0)
    model = build_model("cnn_rnn", {"base_channels": 4}, in_shape=(1, 16, 16), n_classes=13)
    x = torch.rand(3, 2, 1, 16, 16)
    with torch.no_grad():
        small, large = model(x), model(x * 255)
    assert torch.allclose(small, large, rtol=1e-3, atol=1e-3)  # layer norm: invariant to the frame scale


def test_state_dict_round_trip_through_a_fresh_build():
    x = _frames(T=2)
    for arch in POSE_ARCHS:
        a = build_model(arch, {"base_channels": 2}, in_shape=TINY, n_classes=J)
        a.train()
        a(x)  # populates lazily shaped state (batch-norm statistics, sigma-delta shapes)
        b = build_model(arch, {"base_channels": 2}, in_shape=TINY, n_classes=J)
        b.load_state_dict(a.state_dict())
        a.eval(), b.eval()
        assert torch.allclose(a(x), b(x)), arch


# ------------------------------------------------------------------------------------------------ SNN / hybrid
def test_snn_resets_its_state_between_calls():
    torch.manual_seed(0)   # the weights: it must spike
    x = _frames(T=4)
    model = build_model("dhp19_snn", {"base_channels": 2, "per_step": True, "neuron": "lif"}, in_shape=TINY,
                        n_classes=J).train()  # batch statistics: deterministic for the same batch
    assert torch.equal(model(x), model(x))
    assert any(r > 0 for r in model.snn.last_rates.values())  # it spikes


def test_hybrid_cnn_every_reinitialises_from_the_cnn():
    x = _frames(T=5, seed=1)
    net = {"base_channels": 2, "cnn_base_channels": 2, "per_step": True, "cnn_every": 2}
    model = build_model("hybrid_cnn_snn", net, in_shape=TINY, n_classes=J).eval()
    with torch.no_grad():
        y = model(x)
        assert y.shape == (5, 2, J, 16, 20)
        # steps 2-3 and 4 start from a fresh CNN initialisation: the same as running on that segment alone
        assert torch.allclose(y[2:4], model(x[2:4]), atol=1e-6)
        assert torch.allclose(y[4], model(x[4:5])[0], atol=1e-6)
        # so what came before step 2 cannot matter after it
        x2 = x.clone()
        x2[0:2] = torch.rand_like(x2[0:2])
        y2 = model(x2)
        assert torch.allclose(y[2:], y2[2:], atol=1e-6)
        assert not torch.allclose(y[:2], y2[:2])
        # without re-initialisation, the first frame (through the CNN) influences every later step
        model.cnn_every = 0
        y0, y0b = model(x), model(x2)
        assert not torch.allclose(y0[4], y0b[4])
        # the readout starts from the CNN prediction: y_0 = decay * cnn(x_0) + snn_0
        v_init, pred = model.init_states(x[0])
        model.snn.reset_states()
        z = model.snn(x[:1], v_init)[0]
        assert torch.allclose(y0[0], model.output_decay * pred + z, atol=1e-6)


def test_hybrid_gradient_reaches_the_cnn_and_the_state_projections():
    torch.manual_seed(0)
    model = build_model("hybrid_cnn_snn", {"base_channels": 2, "cnn_base_channels": 2, "per_step": True},
                        in_shape=TINY, n_classes=J)
    model(_frames(T=3))[-1].square().mean().backward()
    assert model.cnn.conv1.weight.grad.abs().sum() > 0
    assert model.init_proj["conv1"].weight.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------------------ SDNN
SDNN_TYPES = (["input", "conv", "pool"] + ["conv"] * 3 + ["pool"] + ["conv"] * 4 + ["convT"] + ["conv"] * 4
              + ["convT"] + ["conv"] * 3)


def test_sdnn_export_hdf5_writes_the_netx_layers(tmp_path):
    b, H, W = 2, 16, 20
    model = build_model("dhp19_sdnn", {"base_channels": b}, in_shape=TINY, n_classes=J).eval()
    x = _frames(T=2)
    before = model(x)
    path = model.export_hdf5(tmp_path / "net.net")["path"]
    assert torch.equal(before, model(x))                       # the live model is untouched
    assert hasattr(model.blocks[1].synapse, "weight_g")        # ... and keeps its weight norm
    with h5py.File(path, "r") as fh:
        layers = fh["layer"]
        assert sorted(layers, key=int) == [str(i) for i in range(20)]
        types = [layers[str(i)]["type"][0].decode() for i in range(20)]
        assert types == SDNN_TYPES
        shapes = [tuple(layers[str(i)]["shape"][()]) for i in range(20)]
        assert shapes[0] == (1, H, W) and shapes[1] == (b, H, W) and shapes[2] == (b, H // 2, W // 2)
        assert shapes[6] == (2 * b, H // 4, W // 4) and shapes[10] == (4 * b, H // 4, W // 4)
        assert shapes[11] == (2 * b, H // 2, W // 2) and shapes[16] == (b, H, W) and shapes[19] == (J, H, W)
        ct = layers["11"]
        assert ct["weight"].shape == (4 * b, 2 * b, 2, 2)      # (in, out, kh, kw), FORMATS 2.11
        assert list(ct["stride"][()]) == [2, 2] and list(ct["kernelSize"][()]) == [2, 2]
        assert list(layers["7"]["dilation"][()]) == [2, 2] and list(layers["7"]["padding"][()]) == [2, 2]
        assert layers["7"]["weight"].shape == (4 * b, 2 * b, 3, 3)
        assert list(layers["2"]["kernelSize"][()]) == [2, 2]
        assert layers["19"]["bias"].shape == (J,)
        assert layers["1"]["neuron/type"][()] == b"SDNN" and layers["1"]["neuron/vThMant"][()] >= 1


def test_sdnn_sigma_readout_holds_for_a_constant_input():
    torch.manual_seed(0)
    model = build_model("dhp19_sdnn", {"base_channels": 2, "per_step": True}, in_shape=TINY, n_classes=J).eval()
    x = _frames(T=1).repeat(4, 1, 1, 1, 1)
    with torch.no_grad():
        y = model(x)
    assert y.abs().sum() > 0
    assert torch.allclose(y[0], y[-1])  # no new deltas after the first step: the accumulated output stays


def test_sdnn_refuses_a_threshold_that_quantises_to_zero():
    with pytest.raises(ConfigError, match="1/64"):
        build_model("dhp19_sdnn", {"base_channels": 2, "threshold": 0.001}, in_shape=TINY, n_classes=J)


# ------------------------------------------------------------------------------------------------ Keras reference
def np_conv_same(x, k, dilation):
    """Keras Conv2D, padding 'same', stride 1: x (H, W, Cin), k (3, 3, Cin, Cout) -> (H, W, Cout)."""
    h, w, _ = x.shape
    d = dilation
    xp = np.pad(x, ((d, d), (d, d), (0, 0)))   # TF SAME, stride 1: pad_total = 2d, split evenly
    y = np.zeros((h, w, k.shape[3]), dtype=np.float64)
    for a in range(3):
        for b in range(3):
            y += xp[a * d:a * d + h, b * d:b * d + w, :] @ k[a, b]
    return y


def np_conv_transpose_same(x, k, stride=2):
    """Keras Conv2DTranspose, padding 'same', by definition: each input pixel (i, j) scatters x[i, j] @ k[a, b]^T
    onto output (stride*i + a - pad_before, stride*j + b - pad_before), output size stride*H; TensorFlow's
    pad_total = kernel - stride with pad_before = pad_total // 2. k (kh, kw, Cout, Cin)."""
    h, w, _ = x.shape
    kh = k.shape[0]
    full = np.zeros(((h - 1) * stride + kh, (w - 1) * stride + kh, k.shape[2]), dtype=np.float64)
    for i in range(h):
        for j in range(w):
            full[stride * i:stride * i + kh, stride * j:stride * j + kh] += np.einsum("c,aboc->abo", x[i, j], k)
    p = (kh - stride) // 2
    return full[p:p + stride * h, p:p + stride * w]


def np_maxpool2(x):
    h, w, c = x.shape
    return x[:h // 2 * 2, :w // 2 * 2].reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))


def np_dhp19_keras(x, kernels):
    """The DHP19 CNN forward pass in numpy, Keras semantics: x (H, W, 1) -> (H, W, 13)."""
    for name, cls, _, dil in KERAS_LAYERS:
        if cls == "Conv2DTranspose":
            x = np_conv_transpose_same(x, kernels[name])
        else:
            x = np_conv_same(x, kernels[name], dil)
        x = np.maximum(x, 0.0)
        if name in POOL_AFTER:
            x = np_maxpool2(x)
    return x


# Golden values computed once with TensorFlow 2.21 (tf.nn.conv2d_transpose / tf.nn.conv2d, padding SAME; the
# Keras Conv2DTranspose layer gave the identical array) on integer data, so the comparison is exact.
TF_CONVT_CHW = [int(v) for v in (
    "4 4 2 -2 0 2 -2 -4 -4 0 4 4 2 2 1 -1 0 1 -1 -2 -2 0 2 2 0 0 4 4 2 -2 0 2 -2 -4 -4 0 0 0 2 2 1 -1 0 1 -1 -2 -2 0 "
    "-4 -4 -4 0 4 4 2 -2 0 2 -2 -4 -2 -2 -2 0 2 2 1 -1 0 1 -1 -2 2 2 -2 -4 -4 0 4 4 2 -2 0 2 1 1 -1 -2 -2 0 2 2 1 -1 "
    "0 1 -4 -4 -2 2 0 -2 2 4 4 0 -4 -4 4 4 2 -2 0 2 -2 -4 -4 0 4 4 2 2 -3 -5 -2 3 -1 -4 0 4 6 2 0 0 4 4 2 -2 0 2 -2 "
    "-4 -4 0 4 4 6 2 -3 -5 -2 3 -1 -4 0 4 -4 -4 -4 0 4 4 2 -2 0 2 -2 -4 -4 -4 0 4 6 2 -3 -5 -2 3 -1 -4 2 2 -2 -4 -4 0 "
    "4 4 2 -2 0 2 -2 -2 -1 1 0 -1 1 2 2 0 -2 -2 -4 -4 -2 2 0 -2 2 4 4 0 -4 -4 4 4 0 -4 -1 3 -2 -5 -3 2 6 4 0 0 -4 -4 "
    "-2 2 0 -2 2 4 4 0 2 2 6 4 0 -4 -1 3 -2 -5 -3 2 4 4 4 0 -4 -4 -2 2 0 -2 2 4 -5 -5 -3 2 6 4 0 -4 -1 3 -2 -5 -2 -2 "
    "2 4 4 0 -4 -4 -2 2 0 -2").split()]
TF_CONV_DIL2_CHW = [int(v) for v in (
    "-3 4 4 1 -3 -4 0 -3 2 4 3 -3 4 3 -5 -5 3 4 0 4 5 -5 -3 3 -3 4 4 1 -3 -4 0 -3 2 4 3 -3 4 3 -5 -5 3 4 0 4 5 -5 "
    "-3 3 -3 4 4 1 -3 -4 0 -3 2 4 3 -3 4 3 -5 -5 3 4 0 4 5 -5 -3 3").split()]


def _golden_inputs():
    h, w, c = np.meshgrid(np.arange(4), np.arange(6), np.arange(2), indexing="ij")
    x = ((h * 7 + w * 3 + c * 5) % 5 - 2).astype(np.float64)
    a, b, o, i = np.meshgrid(*[np.arange(n) for n in (3, 3, 3, 2)], indexing="ij")
    k_t = ((a * 3 + b * 5 + o * 7 + i * 2) % 5 - 2).astype(np.float64)        # Conv2DTranspose (kh, kw, out, in)
    a, b, i, o = np.meshgrid(*[np.arange(n) for n in (3, 3, 2, 3)], indexing="ij")
    k_c = ((a * 2 + b * 7 + i * 3 + o * 5) % 5 - 2).astype(np.float64)        # Conv2D (kh, kw, in, out)
    return x, k_t, k_c


def test_numpy_reference_matches_tensorflow_golden_values():
    x, k_t, k_c = _golden_inputs()
    assert np.array_equal(np_conv_transpose_same(x, k_t).transpose(2, 0, 1).ravel(), TF_CONVT_CHW)
    assert np.array_equal(np_conv_same(x, k_c, 2).transpose(2, 0, 1).ravel(), TF_CONV_DIL2_CHW)


def test_keras_convT_maps_to_torch_by_permute_without_flip():
    from evsnn.tasks.pose.keras_import import keras_to_torch
    from evsnn.tasks.pose.models import KerasConvTranspose2d

    x, k_t, _ = _golden_inputs()
    xt = torch.from_numpy(x).permute(2, 0, 1)[None].float()
    w = torch.from_numpy(keras_to_torch(k_t)).float()
    layer = KerasConvTranspose2d(2, 3)
    with torch.no_grad():
        layer.weight.copy_(w)
        got = layer(xt)[0].numpy().ravel()
        assert np.array_equal(got, TF_CONVT_CHW)
        # the tempting PyTorch equivalent (padding=1, output_padding=1) is off by one pixel, flipped or not
        for ww in (w, w.flip(2, 3)):
            naive = torch.nn.functional.conv_transpose2d(xt, ww, stride=2, padding=1, output_padding=1)
            assert not np.array_equal(naive[0].numpy().ravel(), TF_CONVT_CHW)


# ------------------------------------------------------------------------------------------------ Keras importer
def write_keras_file(path, kernels, skip=(), model_config_overrides=None):
    """A Keras 2.2.4-style HDF5 model file with the real DHP_CNN.model layout (FORMATS 2.10)."""
    layers = [{"name": "input_1", "class_name": "InputLayer",
               "config": {"batch_input_shape": [None, 260, 344, 1], "dtype": "float32", "name": "input_1"}}]
    for name, cls, shape, dil in KERAS_LAYERS:
        conf = {"name": name, "filters": shape[2] if cls == "Conv2DTranspose" else shape[3], "kernel_size": [3, 3],
                "strides": [2, 2] if cls == "Conv2DTranspose" else [1, 1], "padding": "same",
                "data_format": "channels_last", "dilation_rate": [dil, dil], "activation": "linear", "use_bias": False}
        if cls == "Conv2DTranspose":
            conf["output_padding"] = None
        conf.update((model_config_overrides or {}).get(name, {}))
        layers.append({"name": name, "class_name": cls, "config": conf})
        layers.append({"name": f"activation_{name}", "class_name": "Activation", "config": {"activation": "relu"}})
        if name in POOL_AFTER:
            pool = "pool1" if name == "conv1" else "pool2"
            layers.append({"name": pool, "class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}})
    model_config = {"class_name": "Model", "config": {"name": "model_1", "layers": layers}}
    with h5py.File(path, "w") as fh:
        fh.attrs["keras_version"] = b"2.2.4"
        fh.attrs["backend"] = b"tensorflow"
        fh.attrs["model_config"] = json.dumps(model_config).encode()
        fh.attrs["training_config"] = json.dumps({"loss": "mse2D", "optimizer_config": {
            "class_name": "RMSprop", "config": {"lr": 1e-5, "rho": 0.9, "epsilon": 1e-7}}}).encode()
        mw = fh.create_group("model_weights")
        names = []
        for layer in layers:
            name = layer["name"]
            if name in skip:
                continue
            g = mw.create_group(name)
            names.append(name.encode())
            if name in kernels:
                g.attrs["weight_names"] = [f"{name}/kernel:0".encode()]
                g.create_dataset(f"{name}/kernel:0", data=kernels[name].astype(np.float32))
            else:
                g.attrs["weight_names"] = np.array([], dtype="S1")
        mw.attrs["layer_names"] = names
        mw.attrs["keras_version"] = b"2.2.4"
        mw.attrs["backend"] = b"tensorflow"
        fh.create_group("optimizer_weights")
    return path


def random_kernels(seed=0, shapes=None):
    rng = np.random.default_rng(seed)
    out = {}
    for name, cls, shape, _ in KERAS_LAYERS:
        shape = (shapes or {}).get(name, shape)
        fan_in = 9 * (shape[3] if cls == "Conv2DTranspose" else shape[2])
        out[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(np.float32)
    return out


def test_import_dhp19_cnn_matches_an_independent_keras_computation(tmp_path):
    from evsnn.tasks.pose.keras_import import import_dhp19_cnn
    from evsnn.train import load_model

    kernels = random_kernels()
    src = write_keras_file(tmp_path / "DHP_CNN.model", kernels)
    summary = import_dhp19_cnn(src, tmp_path / "dhp19_cnn.pt")
    assert summary["weights"] == 218_592 and summary["n_layers"] == 17
    assert summary["in_shape"] == [1, 260, 344] and summary["keras_version"] == "2.2.4"
    assert [r["name"] for r in summary["layers"]] == [n for n, *_ in KERAS_LAYERS]
    up = next(r for r in summary["layers"] if r["name"] == "conv3_up")
    assert up["keras_shape"] == [3, 3, 32, 64] and up["torch_shape"] == [64, 32, 3, 3]
    json.dumps(summary)

    model, blob = load_model(tmp_path / "dhp19_cnn.pt")
    assert blob["arch"] == "dhp19_cnn" and blob["task"] == "pose" and blob["n_classes"] == 13
    rng = np.random.default_rng(1)
    frame = rng.random((12, 16, 1)) * (rng.random((12, 16, 1)) < 0.3)   # sparse event frame, H, W multiples of 4
    ref = np_dhp19_keras(frame.astype(np.float64), {k: v.astype(np.float64) for k, v in kernels.items()})
    with torch.no_grad():
        out = model(torch.from_numpy(frame).float().permute(2, 0, 1)[None, None])   # [T=1, N=1, 1, H, W]
    got = out[0].permute(1, 2, 0).numpy()
    assert got.shape == ref.shape == (12, 16, 13)
    assert np.abs(ref).max() > 0
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


def test_cli_prints_the_import_summary(tmp_path, capsys):
    from evsnn.cli import main

    src = write_keras_file(tmp_path / "DHP_CNN.model", random_kernels())
    assert main(["pose", "import-dhp19-cnn", str(src), str(tmp_path / "out.pt")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["weights"] == 218592 and len(summary["layers"]) == 17
    assert (tmp_path / "out.pt").is_file()


@pytest.mark.parametrize("case,pattern", [
    ("missing", r"DHP_CNN\.model: layer 'conv4_up' is missing"),
    ("shape", r"DHP_CNN\.model: layer 'conv3a' kernel has shape \(3, 3, 32, 32\), expected \(3, 3, 32, 64\)"),
    ("config", r"DHP_CNN\.model: layer 'conv3_up' in model_config .*strides"),
])
def test_import_errors_name_the_file_and_the_layer(tmp_path, capsys, case, pattern):
    from evsnn.cli import main
    from evsnn.tasks.pose.keras_import import import_dhp19_cnn

    kw = {}
    if case == "missing":
        kw["skip"] = ("conv4_up",)
    if case == "config":
        kw["model_config_overrides"] = {"conv3_up": {"strides": [1, 1]}}
    kernels = random_kernels(shapes={"conv3a": (3, 3, 32, 32)} if case == "shape" else None)
    src = write_keras_file(tmp_path / "DHP_CNN.model", kernels, **kw)
    with pytest.raises(FormatError, match=pattern):
        import_dhp19_cnn(src, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()
    assert main(["pose", "import-dhp19-cnn", str(src), str(tmp_path / "out.pt")]) == 2
    assert "conv" in capsys.readouterr().err


def test_import_refuses_a_file_that_is_not_hdf5(tmp_path):
    from evsnn.tasks.pose.keras_import import import_dhp19_cnn

    bad = tmp_path / "DHP_CNN.model"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(FormatError, match="DHP_CNN.model: not a readable HDF5"):
        import_dhp19_cnn(bad, tmp_path / "out.pt")
    with pytest.raises(FileNotFoundError):
        import_dhp19_cnn(tmp_path / "absent.model", tmp_path / "out.pt")
