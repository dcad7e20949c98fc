"""The `acthash` command line: one verb per workflow step, each a thin wrapper over the package."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .cell import Cell, cell_from_name


def _add_cell_options(p: argparse.ArgumentParser) -> None:
    """One option per Cell field, named like its key (`n_train` → `--n-train`)."""
    for f in dataclasses.fields(Cell):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        elif f.name == "checkpoints":
            p.add_argument(flag, type=int, nargs="+", default=list(f.default))
        else:
            kind = {"int": int, "float": float, "str": str}[f.type]
            p.add_argument(flag, type=kind, default=f.default)


def _cell_from_args(args: argparse.Namespace) -> Cell:
    names = [f.name for f in dataclasses.fields(Cell)]
    params = {k: getattr(args, k) for k in names}
    if args.epochs is not None:  # train this long; checkpoints beyond it are an error
        if max(params["checkpoints"]) > args.epochs:
            raise ValueError(f"--checkpoints {params['checkpoints']} go beyond --epochs {args.epochs}")
        params["checkpoints"] = sorted(set(params["checkpoints"]) | {args.epochs})
    return Cell.from_params(params)


def _cmd_fetch(args: argparse.Namespace) -> None:
    from .data import fetch

    folder = fetch(args.dataset, args.data_root)
    print(folder)
    if args.stamp:  # a small file the workflow can depend on
        Path(args.stamp).write_text(json.dumps({"dataset": args.dataset, "folder": str(folder)}) + "\n")


def _cmd_cell(args: argparse.Namespace) -> None:
    from .pack import measure_member, pick_device, print_json, train_pack
    from .store import read_cell

    cell = _cell_from_args(args)
    out = Path(args.out)
    pack = out.with_name(f".{out.name}.pack.h5")
    train_pack([cell], args.data_root, pack, args.device, state_path=out.with_name(f".{out.name}.state.pt"))
    measure_member(pack, cell, out, args.backend, pick_device(args.device))
    pack.unlink()
    rec = read_cell(out)
    print_json({str(int(e)): {k: float(v[j]) for k, v in rec.metrics.items()} for j, e in enumerate(rec.epochs)})


def _cmd_train(args: argparse.Namespace) -> None:
    from .pack import train_pack

    recipe = json.loads(args.recipe)
    cells = [cell_from_name(n, recipe) for n in args.cells]
    train_pack(cells, args.data_root, args.out, args.device, state_path=args.state)


def _cmd_measure(args: argparse.Namespace) -> None:
    from .pack import measure_member, pick_device, print_json, remeasure

    if args.pack:
        if not (args.cell and args.out):
            sys.exit("acthash measure --pack needs --cell and --out")
        cell = cell_from_name(args.cell, json.loads(args.recipe))
        metrics = measure_member(args.pack, cell, args.out, args.backend, pick_device(args.device))
    else:
        overrides = {"knn_k": args.knn_k} if args.knn_k else {}
        metrics = remeasure(args.target, args.backend, pick_device(args.device), **overrides)
    print_json({k: [float(x) for x in v] for k, v in metrics.items()})


def _cmd_plan(args: argparse.Namespace) -> None:
    from .plan import write_plan

    write_plan(args.experiment, json.loads(args.spec), args.out)


def _cmd_merge(args: argparse.Namespace) -> None:
    from .merge import merge_plan

    ds = merge_plan(args.plan, args.out)
    print(ds)


def _cmd_plot(args: argparse.Namespace) -> None:
    from .plots import render_all

    for path in render_all(args.metrics, args.outdir):
        print(path)


def _cmd_status(args: argparse.Namespace) -> None:
    from .status import status

    table = status(args.results)
    print(table.to_string(index=False) if len(table) else "no experiments planned under " + str(args.results))
    counts = table["state"].value_counts().to_dict() if len(table) else {}
    print(json.dumps(counts))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acthash", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("fetch-data", help="make a dataset available under --data-root")
    p.add_argument("dataset")
    p.add_argument("--data-root", default="data")
    p.add_argument("--stamp", default=None, help="write a JSON stamp file here when the dataset is ready")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("cell", help="train and measure one cell into one HDF5 file; prints its metrics as JSON")
    _add_cell_options(p)
    p.add_argument("--epochs", type=int, default=None, help="epochs to train (default: the last checkpoint)")
    p.add_argument("--data-root", default="data")
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:i]")
    p.add_argument("--backend", default="fast", choices=["fast", "reference"])
    p.set_defaults(func=_cmd_cell)

    p = sub.add_parser("train", help="train a pack of cells (given by name) as one stacked model into a pack file")
    p.add_argument("cells", nargs="+", help="cell names, key~value/... as in the results tree")
    p.add_argument("--recipe", default="{}", help="JSON of the non-axis cell parameters")
    p.add_argument("--data-root", default="data")
    p.add_argument("--out", required=True)
    p.add_argument("--state", default=None, help="training-state file: saved at checkpoints, resumed from")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("measure", help="code metrics: from a pack member into a cell file, or recompute a cell file")
    p.add_argument("target", nargs="?", help="a cell file to recompute in place")
    p.add_argument("--pack")
    p.add_argument("--cell")
    p.add_argument("--recipe", default="{}")
    p.add_argument("--out")
    p.add_argument("--knn-k", type=int, default=None)
    p.add_argument("--backend", default="fast", choices=["fast", "reference"])
    p.add_argument("--device", default="cpu", help="cpu | cuda[:i] | auto: where K-Means and (on a GPU) LR run")
    p.set_defaults(func=_cmd_measure)

    p = sub.add_parser("plan", help="write an experiment's expanded cell list (plan.json)")
    p.add_argument("--experiment", required=True)
    p.add_argument("--spec", required=True, help="JSON of the experiment (axes, recipe, phase settings)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("merge", help="merge an experiment's cell files into one netCDF dataset")
    p.add_argument("--plan", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_merge)

    p = sub.add_parser("plot", help="phase-chart maps and metric line plots from a merged dataset")
    p.add_argument("--metrics", required=True)
    p.add_argument("--outdir", required=True)
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("status", help="table of cells: done / diverged / failed / missing")
    p.add_argument("results", nargs="?", default="results")
    p.set_defaults(func=_cmd_status)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:  # a bad value is reported as one line naming it, not as a traceback
        args.func(args)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"acthash {args.verb}: error: {err}")
