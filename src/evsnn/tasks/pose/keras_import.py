"""Import the official DHP19 CNN weights (``DHP_CNN.model``, Keras 2.2.4 HDF5, FORMATS 2.10) into ``dhp19_cnn``.

The file is read with h5py (no Keras/TensorFlow needed). Kernels live at ``model_weights/<name>/<name>/kernel:0``:

- Conv2D ``(kh, kw, in, out)`` -> ``torch.nn.Conv2d.weight`` ``(out, in, kh, kw)``: ``permute(3, 2, 0, 1)``.
- Conv2DTranspose ``(kh, kw, out, in)`` -> ``torch.nn.ConvTranspose2d.weight`` ``(in, out, kh, kw)``: also
  ``permute(3, 2, 0, 1)``, with NO spatial flip: TensorFlow's ``conv2d_transpose`` and PyTorch's
  ``conv_transpose2d`` are both the adjoint of a cross-correlation with the same kernel. What differs is the
  padding: Keras 'same' (k=3, s=2) maps input pixel j to outputs 2j + {0, 1, 2} and crops the end, whereas
  ``ConvTranspose2d(padding=1, output_padding=1)`` maps it to 2j + {-1, 0, 1}, a one-pixel shift that no kernel
  rearrangement can undo. ``evsnn.tasks.pose.models.KerasConvTranspose2d`` reproduces the Keras placement exactly
  (verified against TensorFlow 2.21 ``tf.nn.conv2d_transpose``, max abs difference 2e-6 on random data).

The result is a ``model.pt`` in the format of ``evsnn.train`` (``load_model`` reads it).
"""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np

from evsnn.errors import FormatError, reading_hdf5

DHP19_N_JOINTS = 13
DHP19_IN_SHAPE = (1, 260, 344)  # C, H, W (Keras input 260 x 344 x 1, channels last)
DHP19_WEIGHTS = 218_592


def expected_layers(n_joints: int = DHP19_N_JOINTS, in_channels: int = 1) -> list[dict]:
    """The 17 kernels of DHP_CNN.model: name, Keras class, Keras kernel shape, strides, dilation."""
    from evsnn.tasks.pose.models import dhp19_layers

    out = []
    for s in dhp19_layers(n_joints, 16, in_channels):
        if s.kind == "pool":
            continue
        transposed = s.kind == "convT"
        out.append({
            "name": s.name,
            "class": "Conv2DTranspose" if transposed else "Conv2D",
            "filters": s.c_out,
            "keras_shape": (3, 3, s.c_out, s.c_in) if transposed else (3, 3, s.c_in, s.c_out),
            "strides": 2 if transposed else 1,
            "dilation": s.dilation,
        })
    return out


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return str(value)


def _model_config_layers(path: str, root) -> dict[str, dict]:
    """{layer name: {'class_name', 'config'}} from the root ``model_config`` JSON (empty when absent)."""
    if "model_config" not in root.attrs:
        return {}
    try:
        cfg = json.loads(_text(root.attrs["model_config"]))
    except (ValueError, TypeError) as exc:
        raise FormatError(path, None, f"root attribute 'model_config' is not valid JSON ({exc})") from None
    inner = cfg.get("config", cfg) if isinstance(cfg, dict) else cfg
    layers = inner.get("layers", []) if isinstance(inner, dict) else inner
    out = {}
    for layer in layers if isinstance(layers, list) else []:
        if isinstance(layer, dict):
            conf = layer.get("config", {}) or {}
            name = layer.get("name") or conf.get("name")
            if name:
                out[name] = {"class_name": layer.get("class_name"), "config": conf}
    return out


def _pair(v):
    if isinstance(v, (list, tuple)):
        return tuple(int(x) for x in v)
    return (int(v), int(v))


def _check_layer_config(path: str, exp: dict, entry: dict) -> None:
    name, conf = exp["name"], entry["config"]
    problems = []
    if entry["class_name"] != exp["class"]:
        problems.append(f"class {entry['class_name']} (expected {exp['class']})")
    checks = [("filters", conf.get("filters"), exp["filters"], int),
              ("kernel_size", conf.get("kernel_size"), (3, 3), _pair),
              ("strides", conf.get("strides"), (exp["strides"],) * 2, _pair),
              ("dilation_rate", conf.get("dilation_rate"), (exp["dilation"],) * 2, _pair),
              ("padding", conf.get("padding"), "same", str),
              ("use_bias", conf.get("use_bias"), False, bool)]
    for key, found, want, cast in checks:
        if found is not None and cast(found) != want:
            problems.append(f"{key}={found!r} (expected {want!r})")
    if exp["class"] == "Conv2DTranspose" and conf.get("output_padding") not in (None, [None, None]):
        problems.append(f"output_padding={conf.get('output_padding')!r} (expected None)")
    if problems:
        raise FormatError(path, None, f"layer '{name}' in model_config does not match the DHP19 CNN: "
                                      + "; ".join(problems))


def _input_shape(config_layers: dict[str, dict]) -> tuple[int, int, int] | None:
    for entry in config_layers.values():
        shape = entry["config"].get("batch_input_shape") or entry["config"].get("batch_shape")
        if shape and len(shape) == 4 and all(isinstance(v, int) for v in shape[1:]):
            h, w, c = shape[1:]  # channels last
            return (c, h, w)
    return None


def read_dhp19_keras(path: str | os.PathLike) -> dict:
    """Read and check the 17 kernels of a Keras DHP19 CNN file; returns kernels, metadata and the layer table."""
    import h5py

    path = os.fspath(path)
    if Path(path).is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    if not Path(path).is_file():
        raise FileNotFoundError(errno.ENOENT, "no such file", path)
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, None, f"not a readable HDF5 (Keras .model/.h5) file ({exc})") from None
    with fh, reading_hdf5(path, "Keras model file"):
        from evsnn.h5safe import check_hdf5

        check_hdf5(fh, path)  # no external storage, external links or virtual datasets (kernels are shape-checked)
        meta = {k: _text(fh.attrs[k]) for k in ("keras_version", "backend") if k in fh.attrs}
        weights = fh["model_weights"] if "model_weights" in fh else fh  # full model or save_weights file
        config_layers = _model_config_layers(path, fh)
        kernels, table = {}, []
        for exp in expected_layers():
            name = exp["name"]
            if name not in weights:
                raise FormatError(path, None, f"layer '{name}' is missing (expected the dataset "
                                              f"model_weights/{name}/{name}/kernel:0 of the DHP19 CNN)")
            group = weights[name]
            names = [_text(n) for n in group.attrs.get("weight_names", [])]
            kernel_name = next((n for n in names if n.split("/")[-1].startswith("kernel")), f"{name}/kernel:0")
            if kernel_name not in group:
                raise FormatError(path, None, f"layer '{name}' has no kernel dataset "
                                              f"(expected model_weights/{name}/{kernel_name})")
            bias = [n for n in names if n.split("/")[-1].startswith("bias")]
            if bias:
                raise FormatError(path, None, f"layer '{name}' has a bias ({bias[0]}), but the DHP19 CNN has none")
            data = group[kernel_name]
            if tuple(data.shape) != exp["keras_shape"]:
                raise FormatError(path, None, f"layer '{name}' kernel has shape {tuple(data.shape)}, expected "
                                              f"{exp['keras_shape']} ({exp['class']}, layout (kh, kw, "
                                              + ("out, in" if exp["class"] == "Conv2DTranspose" else "in, out") + "))")
            if name in config_layers:
                _check_layer_config(path, exp, config_layers[name])
            kernels[name] = np.asarray(data, dtype=np.float32)
            if not np.all(np.isfinite(kernels[name])):
                raise FormatError(path, None, f"layer '{name}' kernel contains NaN or infinite values")
            table.append({"name": name, "class": exp["class"], "keras_shape": list(exp["keras_shape"])})
        in_shape = _input_shape(config_layers) or DHP19_IN_SHAPE
    if in_shape[0] != 1:
        raise FormatError(path, None, f"model_config input has {in_shape[0]} channels; the DHP19 CNN takes 1")
    return {"kernels": kernels, "layers": table, "meta": meta, "in_shape": in_shape}


def keras_to_torch(kernel: np.ndarray) -> np.ndarray:
    """Conv2D (kh,kw,in,out) -> (out,in,kh,kw); Conv2DTranspose (kh,kw,out,in) -> (in,out,kh,kw). No flip."""
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))


def import_dhp19_cnn(model_path: str | os.PathLike, out_pt: str | os.PathLike) -> dict:
    """Convert ``DHP_CNN.model`` to an evsnn ``dhp19_cnn`` checkpoint; returns a JSON-able summary."""
    import torch

    from evsnn.tasks.pose.models import DHP19CNN, count_weights
    from evsnn.util import atomic_path

    read = read_dhp19_keras(model_path)
    in_shape = tuple(int(v) for v in read["in_shape"])
    model = DHP19CNN(in_shape=in_shape, n_classes=DHP19_N_JOINTS)
    state = {}
    for row in read["layers"]:
        w = torch.from_numpy(keras_to_torch(read["kernels"][row["name"]]))
        target = getattr(model, row["name"]).weight
        if tuple(w.shape) != tuple(target.shape):  # cannot happen after the checks above; guards the mapping
            raise FormatError(model_path, None, f"layer '{row['name']}' maps to {tuple(w.shape)}, "
                                                f"the model expects {tuple(target.shape)}")
        state[f"{row['name']}.weight"] = w
        row["torch_shape"] = list(w.shape)
    model.load_state_dict(state, strict=True)
    n_weights = count_weights(model)
    blob = {"arch": "dhp19_cnn", "task": "pose", "net": {}, "in_shape": list(in_shape),
            "n_classes": DHP19_N_JOINTS, "state_dict": model.state_dict(), "epoch": -1,
            "source": os.fspath(model_path), "keras_version": read["meta"].get("keras_version", "")}
    with atomic_path(out_pt) as tmp:
        torch.save(blob, tmp)
    return {
        "source": os.fspath(model_path), "out": os.fspath(out_pt), "arch": "dhp19_cnn", "task": "pose",
        "keras_version": read["meta"].get("keras_version"), "backend": read["meta"].get("backend"),
        "in_shape": list(in_shape), "n_joints": DHP19_N_JOINTS, "n_layers": len(read["layers"]),
        "weights": n_weights, "weights_match_paper": n_weights == DHP19_WEIGHTS, "layers": read["layers"],
    }
