"""Command line: ``python -m evsnn <group> <command> ...``.

Groups register themselves in ``COMMANDS``; each prints JSON on success and one clear sentence on error.
"""
from __future__ import annotations

import argparse
import json
import sys

from evsnn.errors import EvsnnError


def _events_info(args: argparse.Namespace) -> dict:
    from evsnn.io import info

    return info(args.file)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evsnn", description="evsnn command line tools")
    groups = parser.add_subparsers(dest="group", required=True)

    events = groups.add_parser("events", help="inspect raw event files")
    ev_cmds = events.add_subparsers(dest="command", required=True)
    p = ev_cmds.add_parser("info", help="print format, camera layout, event count, resolution and time span as JSON")
    p.add_argument("file")
    p.set_defaults(func=_events_info)

    def _pose_import_dhp19_cnn(args: argparse.Namespace) -> dict:
        from evsnn.keras_import import import_dhp19_cnn

        return import_dhp19_cnn(args.model, args.out)

    pose = groups.add_parser("pose", help="human-pose (DHP19) tools")
    pose_cmds = pose.add_subparsers(dest="command", required=True)
    p = pose_cmds.add_parser("import-dhp19-cnn", help="convert the official Keras DHP_CNN.model to an evsnn "
                             "dhp19_cnn checkpoint; prints the layer table as JSON")
    p.add_argument("model", help="DHP_CNN.model (Keras 2.2.4 HDF5)")
    p.add_argument("out", help="output checkpoint (.pt), loadable with evsnn.train.load_model")
    p.set_defaults(func=_pose_import_dhp19_cnn)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except EvsnnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: file not found: {exc.filename}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str))
    return 0
