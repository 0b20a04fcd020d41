"""Command line: ``python -m evsnn <group> <command> ...``.

Groups register themselves in ``COMMANDS``; each prints JSON (or one line) on success and one clear sentence on
error (``evsnn error: <path>...``, exit status 2).
"""
from __future__ import annotations

import argparse
import json
import sys

from evsnn.errors import EvsnnError


def _events_info(args: argparse.Namespace) -> dict:
    from evsnn.io import info

    return info(args.file)


def _config_check(args: argparse.Namespace) -> str:
    """Load a config as data only (yaml.safe_load), refuse a YTE template, validate it like the workflow does."""
    import yaml

    from evsnn.config import validate_config
    from evsnn.errors import ConfigError

    path = args.file
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path} is not readable YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of config keys at its top level, not "
                          f"{type(data).__name__}")
    if "__use_yte__" in data:
        raise ConfigError(f"config file {path} sets '__use_yte__' at its top level: snakemake --configfile would "
                          "evaluate it as a YTE template, which runs the Python code in it while loading; refusing it")
    try:
        cfg = validate_config(data)
    except ConfigError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    runs = "" if len(cfg["models"]) == len(data["models"]) else f" ({len(cfg['models'])} runs with seeds and sweeps)"
    return f"ok: {len(cfg['datasets'])} datasets, {len(cfg['frames'])} frames, {len(data['models'])} models{runs}"


def _models(args: argparse.Namespace) -> str | list:
    from evsnn.catalog import catalog, format_catalog

    rows = catalog(args.task)
    return rows if args.json else format_catalog(rows)


def netx_short(info: dict) -> str:
    """A one-screen summary of ``evsnn.lava.netx.describe``: one line per layer (type, shape, neuron, threshold,
    weights) and the totals."""
    def shape(s):
        return "x".join(map(str, s))

    lines = [f"{info['file']}: {len(info['layers'])} layers ({info['lava_layers']} in Lava), input "
             f"{shape(info['input_shape'])} -> output {shape(info['output_shape'])}, {info['n_weights']:,} weights, "
             f"neurons {', '.join(info['neurons']) or 'none'}, latency {info['latency_steps']} steps"]
    lines.append(f"{'#':>3}  {'type':<7} {'in':>12} -> {'out':<12} {'neuron':<7} {'threshold':>9} {'weights':>9}  detail")
    for li in info["layers"]:
        thr = li.get("threshold")
        detail = []
        if li.get("kernel"):
            detail.append(f"k{shape(li['kernel'])}")
        if li.get("stride") and any(v != 1 for v in li["stride"]):
            detail.append(f"s{shape(li['stride'])}")
        lines.append(f"{li['index']:>3}  {li['type']:<7} {shape(li.get('in_shape') or []):>12} -> "
                     f"{shape(li.get('shape') or []):<12} {li.get('neuron') or '-':<7} "
                     f"{'' if thr is None else f'{thr:g}':>9} {li.get('n_weights', 0) or '':>9}  {' '.join(detail)}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from evsnn import __version__

    parser = argparse.ArgumentParser(prog="python -m evsnn", description="evsnn command line tools")
    parser.add_argument("--version", action="version", version=f"evsnn {__version__}")
    groups = parser.add_subparsers(dest="group", required=True)

    def _predict(args: argparse.Namespace) -> dict:
        from evsnn.predict import predict

        return predict(args.model_dir, args.recording, args.out, window_ms=args.window_ms, camera=args.camera,
                       gt=args.gt, calib=args.calib, lava=args.lava, net=args.net, clip=not args.no_clip,
                       label=args.label)

    p = groups.add_parser("predict", help="run a trained model on a raw recording with the frame settings it was "
                          "trained with; writes predictions (CSV / NPZ) and prints a JSON summary")
    p.add_argument("model_dir", help="a trained model's directory (results/models/<name>/: model.pt, summary.json)")
    p.add_argument("recording", help="a raw recording in any format evsnn.io reads (AEDAT 3.1, AEDAT 2.0, ...); "
                   "depth models: an MVSEC-style _data.hdf5 file")
    p.add_argument("--out", default=None, help="output folder (default: MODEL_DIR/predictions/<recording stem>)")
    p.add_argument("--window-ms", type=float, default=None, help="gesture: length of each classified window "
                   "(default 1500 ms)")
    p.add_argument("--camera", type=int, default=None, help="pose: the DHP19 camera to predict (default: the "
                   "first camera the model was trained on)")
    p.add_argument("--gt", default=None, help="depth: the recording's MVSEC-style _gt.hdf5; windows end at its depth "
                   "timestamps and the mean depth error is reported; pose: the recording's DHP19 Vicon .mat (the "
                   "official window, the true joints in the clip and the 2D error)")
    p.add_argument("--calib", default=None, help="depth: the calibration folder (camchain-imucam-<scene>.yaml and the "
                   "rectification maps; default: found beside the recording); pose with --gt: DHP19's P_matrices "
                   "folder (default: found above the recording)")
    p.add_argument("--lava", action="store_true", help="lava-dl models: run the netx export in Lava instead of "
                   "PyTorch, on the same frames")
    p.add_argument("--net", default=None, help="with --lava: the .net file (default: results/lava/<model>/"
                   "network.net beside results/models/<model>/, made by rule export_netx)")
    p.add_argument("--label", default=None, help="gesture: the recording's true class (one of the model's class "
                   "names): shown in the clip beside the predicted class and scored (default: unknown)")
    p.add_argument("--no-clip", action="store_true", help="do not draw the clip (clip.gif, clip.html: the events "
                   "with the predictions)")
    p.set_defaults(func=_predict)

    p = groups.add_parser("models", help="every architecture of every task: parameters at the paper's settings, "
                          "spiking / hybrid / conventional, deployed to Lava or not")
    p.add_argument("--task", default=None, help="only this task's architectures")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(func=_models)

    config = groups.add_parser("config", help="workflow configs")
    config_cmds = config.add_subparsers(dest="command", required=True)
    p = config_cmds.add_parser("check", help="validate a config file without running anything in it (a YTE "
                               "template is refused); prints 'ok: N datasets, N frames, N models'")
    p.add_argument("file")
    p.set_defaults(func=_config_check)

    events = groups.add_parser("events", help="inspect raw event files")
    ev_cmds = events.add_subparsers(dest="command", required=True)
    p = ev_cmds.add_parser("info", help="print format, camera layout, event count, resolution and time span as JSON")
    p.add_argument("file")
    p.set_defaults(func=_events_info)

    def _pose_import_dhp19_cnn(args: argparse.Namespace) -> dict:
        from evsnn.tasks.pose.keras_import import import_dhp19_cnn

        return import_dhp19_cnn(args.model, args.out)

    pose = groups.add_parser("pose", help="human-pose (DHP19) tools")
    pose_cmds = pose.add_subparsers(dest="command", required=True)
    p = pose_cmds.add_parser("import-dhp19-cnn", help="convert the official Keras DHP_CNN.model to an evsnn "
                             "dhp19_cnn checkpoint; prints the layer table as JSON")
    p.add_argument("model", help="DHP_CNN.model (Keras 2.2.4 HDF5)")
    p.add_argument("out", help="output checkpoint (.pt), loadable with evsnn.train.load_model")
    p.set_defaults(func=_pose_import_dhp19_cnn)

    def _netx_info(args: argparse.Namespace) -> dict:
        from evsnn.lava.netx import describe

        info = describe(args.file)
        return netx_short(info) if args.short else info

    def _netx_run(args: argparse.Namespace) -> dict:
        from evsnn.lava.run import run_file

        return run_file(args.file, steps=args.steps, input_path=args.input, seed=args.seed, samples=args.samples,
                        conv_impl=args.conv_impl, synapse=args.synapse)

    netx = groups.add_parser("netx", help="lava-dl netx networks (.net) in Lava")
    netx_cmds = netx.add_subparsers(dest="command", required=True)
    p = netx_cmds.add_parser("info", help="validate a .net file and print its layers as JSON (--short: one line "
                             "per layer)")
    p.add_argument("file")
    p.add_argument("--short", action="store_true", help="a one-screen summary: layers, shapes, neuron types, "
                   "thresholds, weights")
    p.set_defaults(func=_netx_info)
    p = netx_cmds.add_parser("run", help="run a .net file in Lava (CPU, fixed point); prints layers, output shape, "
                             "number of output events and wall time as JSON")
    p.add_argument("file")
    p.add_argument("--steps", type=int, default=None, help="time steps per sample (default: the input's length, "
                   "or 8 for random input)")
    p.add_argument("--input", default=None, help=".npy input in slayer layout [C, H, W, T] or [N, C, H, W, T] "
                   "(default: random binary events sized from the file's input layer)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--samples", type=int, default=1, help="number of random input samples")
    p.add_argument("--conv-impl", choices=("numpy", "lava"), default="numpy",
                   help="conv synapse: evsnn's numpy model (fast) or Lava's own lava.proc.conv")
    p.add_argument("--synapse", choices=("auto", "event", "dense"), default=None,
                   help="how evsnn's conv/convT/pool synapse computes a step: from the non-zero input messages "
                   "only (event), densely (dense), or the cheaper of the two per step (auto; the default, or "
                   "$EVSNN_LAVA_SYNAPSE); the output is the same")
    p.set_defaults(func=_netx_run)

    def _nir_info(args: argparse.Namespace) -> dict:
        from evsnn.nirx.graph import describe

        return describe(args.file)

    def _nir_run(args: argparse.Namespace) -> dict:
        from evsnn.nirx.deploy import run_file
        from evsnn.nirx.frameworks import FrameworkUnavailable

        try:
            return run_file(args.file, framework=args.framework, steps=args.steps, input_path=args.input,
                            seed=args.seed, samples=args.samples)
        except FrameworkUnavailable as exc:
            raise EvsnnError(f"{args.file}: {exc}") from None

    nir = groups.add_parser("nir", help="NIR graphs (.nir) in spikingjelly, snnTorch or Norse")
    nir_cmds = nir.add_subparsers(dest="command", required=True)
    p = nir_cmds.add_parser("info", help="validate a .nir file and print its nodes (shapes, neuron parameters) as "
                            "JSON")
    p.add_argument("file")
    p.set_defaults(func=_nir_info)
    p = nir_cmds.add_parser("run", help="run a .nir file in one framework; prints the output shape, the mean "
                            "output and the spikes of every neuron node as JSON")
    p.add_argument("file")
    p.add_argument("--framework", choices=("spikingjelly", "snntorch", "norse"), default="spikingjelly")
    p.add_argument("--steps", type=int, default=None, help="time steps (default: the input's length, or 8 for "
                   "random input)")
    p.add_argument("--input", default=None, help=".npy input [T, *input] or [T, N, *input] (default: random "
                   "binary events sized from the file's Input node)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--samples", type=int, default=1, help="number of random input samples")
    p.set_defaults(func=_nir_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except EvsnnError as exc:
        print(f"evsnn error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"evsnn error: file not found: {exc.filename}", file=sys.stderr)
        return 2
    except IsADirectoryError as exc:
        print(f"evsnn error: {exc.filename} is a directory, not a file", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is None:
            raise
        print(f"evsnn error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(result if isinstance(result, str) else json.dumps(result, indent=2, default=str))
    return 0
