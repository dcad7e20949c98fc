"""The `acthash` command line: one verb per workflow step, each a thin wrapper over the package."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from acthash.params.cell import FIELDS, Cell
from acthash.params.config import MEASURE_ON, STATE_EVERY_MIN, WORKFLOW_KEYS
from acthash.params.datasets import DATASETS
from acthash.params.fields import allowed
from acthash.params.layout import DATA_ROOT, RESULTS
from acthash.params.registry import BACKENDS


def _add_cell_options(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One option per Cell field but `skip`, named like its key (`n_train` → `--n-train`), documented from the
    field."""
    for name, f in FIELDS.items():
        if name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        doc = f"{f.metadata['doc']} ({allowed(name, FIELDS)}; default {f.default})"
        if f.type == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=doc)
        elif name == "checkpoints":
            p.add_argument(flag, type=int, nargs="+", default=list(f.default), help=doc)
        else:
            kind = {"int": int, "float": float, "str": str}[str(f.type)]
            p.add_argument(flag, type=kind, default=f.default, help=doc)


def _cell_from_args(args: argparse.Namespace) -> Cell:
    params = {k: getattr(args, k) for k in FIELDS if hasattr(args, k)}
    if args.epochs is not None:  # train this long; checkpoints beyond it are an error
        if max(params["checkpoints"]) > args.epochs:
            raise ValueError(f"--checkpoints {params['checkpoints']} go beyond --epochs {args.epochs}")
        params["checkpoints"] = sorted(set(params["checkpoints"]) | {args.epochs})
    return Cell.from_params(params)


def _cmd_fetch(args: argparse.Namespace) -> None:
    from acthash.data.sources import fetch

    folder = fetch(args.dataset, args.data_root)
    print(folder)
    if args.stamp:  # a small file the workflow can depend on
        Path(args.stamp).write_text(json.dumps({"dataset": args.dataset, "folder": str(folder)}) + "\n")


def _cmd_cell(args: argparse.Namespace) -> None:
    from acthash.run.pack import pick_device, print_json
    from acthash.run.runner import run_pack
    from acthash.store.cellfile import read_cell

    cell = _cell_from_args(args)
    out = Path(args.out)
    device = pick_device(args.device)
    run_pack([cell], [out], args.data_root, out.with_name(f".{out.name}.pack"), device, args.backend, device)
    rec = read_cell(out)
    print_json({str(int(e)): {k: float(v[j]) for k, v in rec.metrics.items()} for j, e in enumerate(rec.epochs)})


def _cmd_run_pack(args: argparse.Namespace) -> None:
    from acthash.params.layout import Layout
    from acthash.run.progress import Progress
    from acthash.run.runner import run_layout_pack
    from acthash.store.plan import plan_cells, read_plan

    print(f"=== run-pack {args.pack or ''} started {time.strftime('%Y-%m-%d %H:%M:%S')} (pid {os.getpid()}) ===",
          file=sys.stderr, flush=True)  # when this attempt began, at the top of the pack's log
    by_hash = {c.param_hash: c for c in plan_cells(read_plan(args.plan))}
    missing = [h for h in args.cells if h not in by_hash]
    if missing:
        raise ValueError(f"{args.plan}: holds no cell {', '.join(missing)}")
    if args.threads:  # the cores this job was given (at most OMP_NUM_THREADS): jobs side by side do not oversubscribe
        import numba
        import torch

        threads = min(args.threads, int(os.environ.get("OMP_NUM_THREADS") or args.threads))
        torch.set_num_threads(threads)
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    label = f"pack {args.pack or ''}".strip()
    outs = run_layout_pack([by_hash[h] for h in args.cells], Layout(args.results), args.data_root, args.device,
                           args.backend, args.pack, args.train_only, args.state_every_min, Progress(label))
    print(f"{label}: {'trained' if args.train_only else f'{len(outs)} cell files in ' + args.results + '/cells'}",
          flush=True)


def _cmd_measure(args: argparse.Namespace) -> None:
    from acthash.run.pack import pick_device, print_json, remeasure

    overrides = {"knn_k": args.knn_k} if args.knn_k else {}
    metrics, out = remeasure(args.target, args.backend, pick_device(args.device), **overrides)
    print(f"wrote {out}", file=sys.stderr)
    if args.receipt:
        from acthash.store.atomic import atomic_text

        atomic_text(args.receipt, json.dumps({"cells": [str(out)]}, indent=1))
    print_json({k: [float(x) for x in v] for k, v in metrics.items()})


def _cmd_merge(args: argparse.Namespace) -> None:
    from acthash.analysis.merge import merge_files
    from acthash.store.atomic import publish_file

    ds = merge_files(args.plan, args.cells, args.staged, args.receipts)
    publish_file(args.staged, args.out)
    print(ds)


def _draw_to_files() -> None:
    """Matplotlib draws files only, whatever display the process has (the library leaves the backend alone)."""
    import matplotlib

    matplotlib.use("Agg")


def _cmd_plot(args: argparse.Namespace) -> None:
    _draw_to_files()
    from acthash.analysis.plots import publish_figures, render_all

    for path in render_all(args.metrics, args.staged):
        print(path)
    publish_figures(args.staged, args.outdir)


def _cmd_plan(args: argparse.Namespace) -> None:
    from acthash.store.plan import read_work, write_plan

    plans = read_work(args.work).plans
    if args.view not in plans:
        raise SystemExit(f"acthash plan: {args.work} has no plan of view {args.view} (views: {', '.join(plans)}); "
                         "the main Snakemake process writes it when a run of that view starts")
    plan = plans[args.view]
    write_plan(plan, args.out)
    print(f"view {plan['view']} of {plan['experiment']}: {len(plan['cells'])} cells -> {args.out}", file=sys.stderr)


def _cmd_status(args: argparse.Namespace) -> None:
    from acthash.run.status import status_tables

    table, views = status_tables(args.results)
    if not len(table):
        print(f"no views planned under {args.results}")
        return
    print("merged datasets:")
    print(views.drop(columns="mixes").to_string(index=False))
    for view, mixes in zip(views["view"], views["mixes"]):
        if mixes:
            print(f"warning: view {view} mixes cells {mixes}: not comparable to the bit (docs/determinism.md)")
    print("cells per view and state:")
    print(table.groupby(["view", "state"]).size().unstack(fill_value=0).to_string())
    shown = table if args.all else table[table["state"] != "done"]
    if len(shown):
        print(shown[["view", "cell", "hash", "state", "detail", "log"]].to_string(index=False))
    distinct = table.drop_duplicates("hash")  # a cell two views list is one file
    print(f"{len(distinct)} distinct cells:", json.dumps(distinct["state"].value_counts().to_dict()))


def _cmd_estimate(args: argparse.Namespace) -> None:
    import yaml

    from acthash.params.config import ConfigError, measure_on, resolve
    from acthash.params.layout import Layout
    from acthash.run.estimate import SHIPPED, Calibration, pack_cost, report
    from acthash.store.plan import plan_work

    layout = Layout(args.results)
    config = yaml.safe_load(Path(args.config).read_text())
    config.update(experiments=args.experiments, **({"measure_on": args.measure_on} if args.measure_on else {}))
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item}: not KEY=VALUE")
        if key in ("experiments", "measure_on"):
            where = "the experiments argument" if key == "experiments" else "--measure-on"
            raise ConfigError(f"--set {key}: give it as {where}")
        config[key] = value  # a string, as Snakemake's --config gives it: `resolve` reads it (config.coerce)
    views = resolve(config)
    todo = plan_work(views, layout).packs
    source = args.calibration or (layout.bench() if Path(layout.bench()).exists() else SHIPPED)
    calibration = Calibration.load(source)
    print(report([v.name for v in views], [pack_cost(p, calibration) for p in todo], calibration, source,
                 measure_on(config)))


def _cmd_first_epoch(args: argparse.Namespace) -> None:
    from acthash.run.ablation import FRACTIONS, first_epoch_readings, table
    from acthash.run.pack import pick_device

    base = _cell_from_args(args)
    cells = [dataclasses.replace(base, width=w, seed=s, checkpoints=(0, 1)) for w in args.widths for s in args.seeds]
    fractions = FRACTIONS if args.fractions is None else args.fractions
    ds = first_epoch_readings(cells, args.data_root, fractions, pick_device(args.device))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(args.out)
    print(f"R_train ({ds.attrs['steps_per_epoch']} steps per epoch):\n{table(ds)}"
          f"R_test:\n{table(ds, 'redundancy_test')}", end="")


def _load_files(paths: list[str], what: str) -> list[Any]:
    """The datasets at `paths` (xarray), loaded into memory; a missing file is an error naming it as `what`."""
    import xarray as xr

    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such {what}")
    return [xr.load_dataset(path) for path in paths]


def _cmd_first_epoch_table(args: argparse.Namespace) -> None:
    from acthash.run.ablation import readings_table

    labels = args.labels or [Path(p).stem for p in args.datasets]
    if len(labels) != len(args.datasets):
        raise SystemExit(f"acthash first-epoch-table: {len(args.datasets)} datasets but {len(labels)} labels")
    readings = list(zip(labels, _load_files(args.datasets, "first-epoch dataset")))
    print(readings_table(readings, args.metric, args.steps), end="")


def _cmd_ablation_table(args: argparse.Namespace) -> None:
    from acthash.run.ablation import variants_table

    datasets = _load_files(args.datasets, "merged dataset")
    for ds, path in zip(datasets, args.datasets):
        ds.attrs.setdefault("experiment", Path(path).stem)
    text = variants_table(datasets, args.metric, args.accuracy)
    if args.out:
        Path(args.out).write_text(text)
    print(text, end="")


def _cmd_means(args: argparse.Namespace) -> None:
    from acthash.analysis.means import means_table
    from acthash.analysis.merge import load

    at = {}
    for word in args.at:
        dim, sep, values = word.partition("=")
        if not sep or not values:
            raise SystemExit(f"acthash means: --at {word}: write AXIS=VALUE[,VALUE...], e.g. width=40,60")
        at[dim] = values.split(",")
    print(means_table(load(args.dataset), args.metrics, args.columns, args.rows, at, args.sd), end="")


def _cmd_compare_paper(args: argparse.Namespace) -> None:
    from acthash.analysis.merge import load
    from acthash.analysis.paper import EXPERIMENTS, compare_paper, markdown, side_by_side
    from acthash.params.layout import Layout

    def by_experiment(paths: list[str]) -> dict:
        datasets = {}
        for path in map(Path, paths):
            ds = load(path)
            experiment = ds.attrs.get("experiment")
            if experiment in datasets:
                raise ValueError(f"{path}: a second dataset of experiment {experiment}; pass one per experiment")
            datasets[experiment] = ds
        return datasets

    paths = args.datasets or [p for e in EXPERIMENTS if (p := Path(Layout(args.results).metrics(e))).exists()]
    if not paths:
        raise FileNotFoundError(f"no merged dataset of a paper experiment ({', '.join(EXPERIMENTS)}) under "
                                f"{args.results}; name the files to compare (e.g. docs/reproduction/*.nc)")
    table = compare_paper(by_experiment(paths), every_row=args.all)
    if args.beside:
        table = side_by_side(table, compare_paper(by_experiment(args.beside), every_row=True), tuple(args.labels))
    text = markdown(table)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)


def _cmd_boundaries(args: argparse.Namespace) -> None:
    from acthash.analysis.boundaries import boundary_table
    from acthash.analysis.merge import load, phase_rule

    ds = load(args.metrics)
    print(boundary_table(ds, phase_rule(ds)), end="")


def _cmd_robustness(args: argparse.Namespace) -> None:
    from acthash.analysis.merge import load, phase_rule
    from acthash.analysis.phase import FACTOR, robustness_table

    ds = load(args.metrics)
    print(robustness_table(ds, phase_rule(ds), FACTOR if args.factor is None else args.factor), end="")


def _cmd_effects(args: argparse.Namespace) -> None:
    from acthash.analysis.effects import VALUES, effects_figure, effects_table, factor_effects
    from acthash.params.cell import FACTORS
    from acthash.analysis.merge import load

    phase = load(args.phase)
    factors = {}
    for path in args.factors:
        ds = load(path)
        varying = [d for d in FACTORS if d in ds.dims and ds.sizes[d] > 1]
        if len(varying) != 1:
            raise ValueError(f"{path}: varies {varying or 'no factor'}; give one dataset per factor")
        factors[varying[0]] = ds
    effects = factor_effects(phase, factors)
    print("\n".join(f"{what[0].upper()}{what[1:]} [in brackets: the lowest and highest of the seeds' own, which seed "
                      f"noise widens]; other axes at the reference cell:\n\n{effects_table(effects, phase, value)}"
                      for value, what in VALUES.items()), end="")
    if args.figure:
        from acthash.store.figure_source import source_metadata

        effects_figure(effects, phase).savefig(args.figure, dpi=130, bbox_inches="tight",
                                               metadata=source_metadata([args.phase, *args.factors]))
        print(f"figure: {args.figure}", file=sys.stderr)


def _cmd_drift(args: argparse.Namespace) -> None:
    from acthash.analysis.drift import drift, drift_table, provenance
    from acthash.analysis.merge import load

    old, new = load(args.old), load(args.new)
    print(f"{args.old} ({provenance(old)}) against\n{args.new} ({provenance(new)}):\n")
    print(drift_table(drift(old, new, args.by), args.by), end="")


def _cmd_evidence(args: argparse.Namespace) -> None:
    from acthash.run.evidence import (REGISTRY, origins_table, reproduce, stale_figures, stale_tables, write_figures,
                                      write_tables)

    if args.action == "check":
        stale = stale_tables(args.root)
        if stale:
            raise ValueError(f"not what their commands ({REGISTRY}) print on the committed data: {', '.join(stale)}; "
                             "`acthash evidence tables` rewrites them")
        stale = stale_figures(args.root)
        if stale:
            raise ValueError(f"not drawn from the committed data ({REGISTRY}): {', '.join(stale)}; `acthash evidence "
                             "figures` redraws them (a table's --figure: `acthash evidence tables`)")
        print("every generated table is its command's output on the committed data, every figure is drawn from it\n")
    if args.action in ("check", "origins"):
        print(origins_table(args.root), end="")
    elif args.action == "tables":
        print("\n".join(write_tables(args.root)))
    else:
        _draw_to_files()
        if args.action == "figures":
            print("\n".join(write_figures(args.root)))
        else:
            reproduce(args.root, dry_run=args.dry_run)


def _cmd_params(args: argparse.Namespace) -> None:
    from acthash.params.phase_rule import PhaseRule

    if args.schema:
        from acthash.params.schema import schema_yaml

        print(schema_yaml(), end="")
        return
    print("| key | axis | default | allowed | meaning |\n|---|---|---|---|---|")
    phase = {f.name: f for f in dataclasses.fields(PhaseRule)}
    for prefix, fields in (("", FIELDS), ("phase.", phase)):
        for name, f in fields.items():
            default = list(f.default) if isinstance(f.default, tuple) else f.default  # as YAML lists read
            print(f"| `{prefix}{name}` | {'yes' if f.metadata['axis'] else ''} | `{default}` | "
                  f"{allowed(name, fields)} | {f.metadata['doc']} |")
    print("\nWorkflow keys (top level; pack_over and pack_size also per grid):\n\n"
          "| key | default | allowed | meaning |\n|---|---|---|---|")
    for name, (default, allowed_values, doc) in WORKFLOW_KEYS.items():
        print(f"| `{name}` | {default} | {allowed_values} | {doc} |")


def _results(p: argparse.ArgumentParser, positional: bool = False) -> None:
    p.add_argument(*(["results"] if positional else ["--results"]), **({"nargs": "?"} if positional else {}),
                   default=RESULTS, help=f"root of the results tree (default {RESULTS})")


def _data_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=DATA_ROOT, help=f"dataset folder (default {DATA_ROOT})")


def _backend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=BACKENDS[0], choices=BACKENDS, help=f"metric implementations (default "
                   f"{BACKENDS[0]})")


def _device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:i] (default auto)")


def _args_fetch_data(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash fetch-data`."""
    sources = {d.name: "fetched" if d.fetched else "on disk" if d.provide else "built in" for d in DATASETS.values()}
    p.add_argument("dataset", help=", ".join(f"{name} ({how})" for name, how in sources.items()))
    _data_root(p)
    p.add_argument("--stamp", default=None, help="write a JSON stamp file here when the dataset is ready")


def _args_cell(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash cell`."""
    _add_cell_options(p)
    p.add_argument("--epochs", type=int, default=None, help="epochs to train (default: the last checkpoint)")
    _data_root(p)
    p.add_argument("--out", required=True, help="the cell file to write")
    _device(p)
    _backend(p)


def _args_run_pack(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash run-pack`."""
    p.add_argument("--plan", required=True, help="the view's plan.json")
    p.add_argument("--cells", nargs="+", required=True, help="parameter hashes of the pack's cells")
    p.add_argument("--pack", default=None, help="the pack's id (default: a hash of the cells' hashes)")
    _results(p)
    _data_root(p)
    _device(p)
    _backend(p)
    p.add_argument("--train-only", action="store_true", help="stop once the pack's codes file is written (a later "
                   "run-pack of the same cells measures them: the workflow's measure_on=cpu)")
    p.add_argument("--state-every-min", type=float, default=STATE_EVERY_MIN, help="save the training state at "
                   "least this often (minutes), besides each checkpoint (default %(default)g)")
    p.add_argument("--threads", type=int, default=None, help="compute threads (torch, numba): the cores the job was "
                   "given (the rules pass Snakemake's threads), at most OMP_NUM_THREADS; default: torch's")


def _args_measure(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash measure`."""
    p.add_argument("target", help="a cell file")
    p.add_argument("--knn-k", type=int, default=None, help="neighbours of the K-NN (default: the cell's)")
    _backend(p)
    p.add_argument("--device", default="cpu", help="cpu | cuda[:i] | auto: where K-Means and (on a GPU) LR run")
    p.add_argument("--receipt", help="when done, write a receipt naming the cell file here (the workflow's)")


def _args_merge(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash merge`."""
    p.add_argument("--plan", required=True, help="the view's plan.json")
    p.add_argument("--cells", nargs="*", default=[], help="cell files")
    p.add_argument("--receipts", nargs="*", default=[], help="receipts of pack jobs: their cell files are merged too")
    p.add_argument("--staged", required=True, help="where the merged dataset is written first")
    p.add_argument("--out", required=True, help="where it is published once complete")


def _args_plot(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash plot`."""
    p.add_argument("--metrics", required=True, help="a merged metrics.nc")
    p.add_argument("--staged", required=True, help="folder the figures are drawn into")
    p.add_argument("--outdir", required=True, help="folder they are published to once all are drawn")


def _args_plan(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash plan`."""
    p.add_argument("--work", required=True, help="the run's work file (results/packs/work-<digest>.json)")
    p.add_argument("--view", required=True, help="the view whose plan to write")
    p.add_argument("--out", required=True, help="where plan.json goes (written atomically)")


def _args_status(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash status`."""
    _results(p, positional=True)
    p.add_argument("--all", action="store_true", help="list every cell, done ones included")


def _args_estimate(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash estimate`."""
    p.add_argument("experiments", help="comma-separated experiment names, or all")
    p.add_argument("--config", default="config/config.yaml", help="the workflow's config (default config/config.yaml)")
    _results(p)
    p.add_argument("--measure-on", choices=MEASURE_ON, default=None,
                   help="where cells are measured (default: the config's measure_on)")
    p.add_argument("--calibration", default=None, help="a `make bench` bench.json (default: "
                   "results/benchmarks/bench.json if present, else the figures shipped with acthash)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="config overrides as the workflow's "
                   "--config takes them, values in YAML (e.g. framework=keras \"seed=[0,1,2]\")")


def _args_compare_paper(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash compare-paper`."""
    p.add_argument("datasets", nargs="*", help="merged metrics.nc files, one per experiment (default: "
                   "<results>/<experiment>/metrics.nc of the shipped experiments that have one)")
    _results(p)
    p.add_argument("--all", action="store_true", help="every row, those of experiments not given too (no data)")
    p.add_argument("--beside", nargs="+", default=[], help="datasets of the same experiments from another run "
                   "(e.g. acthash's beside Keras'): their values and verdicts in two more columns")
    p.add_argument("--labels", nargs=2, default=["ours", "beside"], metavar=("FIRST", "SECOND"),
                   help="names of the two runs' columns with --beside")
    p.add_argument("--out", default=None, help="also write the table to this file")


def _args_means(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash means`."""
    p.add_argument("dataset", help="a merged dataset (metrics.nc)")
    p.add_argument("--metrics", nargs="+", required=True, help="the metrics, e.g. redundancy_test knn_test")
    p.add_argument("--columns", required=True, help="the axis along the columns, e.g. epoch")
    p.add_argument("--rows", default=None, help="an axis whose values each metric gets a row for, e.g. width")
    p.add_argument("--at", nargs="+", default=[], metavar="AXIS=VALUES",
                   help="the values picked on some axes, e.g. width=40,60 epoch=1,200 (every other axis is held "
                   "at its last value)")
    p.add_argument("--sd", action="store_true", help="mean ± sample sd over seeds (default: the mean)")


def _args_ablation_table(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash ablation-table`."""
    p.add_argument("datasets", nargs="+", help="merged metrics.nc files of the variants; the first is the baseline")
    p.add_argument("--metric", default="redundancy_train", help="the metric per epoch (default redundancy_train)")
    p.add_argument("--accuracy", default="knn_test",
                   help="the accuracy at epoch 1 and at the last epoch every dataset has (default knn_test)")
    p.add_argument("--out", default=None, help="also write the table to this file")


def _args_first_epoch_table(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash first-epoch-table`."""
    p.add_argument("datasets", nargs="+", help="datasets written by acthash first-epoch --out")
    p.add_argument("--labels", nargs="+", default=None, help="the recipe of each dataset, in order (default: file "
                   "names); datasets of one label are joined into its rows")
    p.add_argument("--steps", type=int, nargs="+", default=None, help="the columns: numbers of steps read, 0 for "
                   "epoch 0 (default: every one read)")
    p.add_argument("--metric", default="redundancy_train", help="redundancy_train (default), redundancy_test or "
                   "knn_test")


def _args_first_epoch(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash first-epoch`."""
    _add_cell_options(p, skip=("width", "seed", "checkpoints"))
    p.add_argument("--widths", type=int, nargs="+", required=True, help="widths of the pack's members")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the pack's members (default 0)")
    p.add_argument("--fractions", type=float, nargs="+", default=None,
                   help="fractions of epoch 1's steps after which codes are read (default: ablation.FRACTIONS, "
                   "1/16 to 1 by doubling)")
    _data_root(p)
    _device(p)
    p.add_argument("--out", required=True, help="where the dataset (member × epoch) is written, NetCDF")
    p.set_defaults(epochs=None)


def _args_boundaries(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash boundaries`."""
    p.add_argument("metrics", help="a merged metrics.nc")


def _args_robustness(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash robustness`."""
    p.add_argument("metrics", help="a merged metrics.nc")
    p.add_argument("--factor", type=float, default=None, help="the multiplicative move of each threshold "
                   "(default acthash.analysis.phase.FACTOR)")


def _args_effects(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash effects`."""
    p.add_argument("phase", help="a merged dataset varying width, epoch and n_train (e.g. mnist_phase)")
    p.add_argument("factors", nargs="+", help="merged datasets each varying one factor (e.g. mnist_weight_decay)")
    p.add_argument("--figure", help="also draw the ranges into this file (PNG or SVG)")


def _args_drift(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash drift`."""
    p.add_argument("old", help="a merged dataset (e.g. committed evidence)")
    p.add_argument("new", help="a merged dataset of the same grid (e.g. its rerun by another version or machine)")
    p.add_argument("--by", default="epoch", help="one row per value of this dim (default epoch)")


def _args_evidence(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash evidence`."""
    p.add_argument("action", choices=["check", "origins", "tables", "figures", "reproduce"],
                   help="check: the tables against their commands, then what made each dataset; origins: only the "
                   "latter (a Markdown table); tables, figures: rewrite them from the committed data; reproduce: "
                   "rerun every dataset, then the tables and figures")
    p.add_argument("--root", default=".", help="the repository (default: here)")
    p.add_argument("--dry-run", action="store_true", help="reproduce: print the commands only")


def _args_params(p: argparse.ArgumentParser) -> None:
    """The arguments of `acthash params`."""
    p.add_argument("--schema", action="store_true", help="print the config's JSON schema as YAML instead (the "
                   "workflow's copy: workflow/schemas/config.schema.yaml)")


@dataclasses.dataclass(frozen=True)
class Verb:
    """One verb of the command line: its name, its one-line help, the function adding its arguments and the
    function running it."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]


VERBS = (
    Verb("fetch-data", "make a dataset available under --data-root",
         _args_fetch_data, _cmd_fetch),
    Verb("cell", "train and measure one cell into one HDF5 file; prints its metrics as JSON",
         _args_cell, _cmd_cell),
    Verb("run-pack", "train and measure the cells of a view's plan (by hash) as one pack",
         _args_run_pack, _cmd_run_pack),
    Verb("measure", "recompute a cell file's code metrics (e.g. another --knn-k); a file named "
         "by its hash gets a sibling named by the new hash",
         _args_measure, _cmd_measure),
    Verb("merge", "merge a view's cell files into one netCDF dataset",
         _args_merge, _cmd_merge),
    Verb("plot", "regime maps and metric panels (PNG and SVG), factor, boundary and robustness tables from a "
         "merged dataset (docs/figures.md)",
         _args_plot, _cmd_plot),
    Verb("plan", "(run by the workflow) a view's plan.json, from the work file its main process wrote",
         _args_plan, _cmd_plan),
    Verb("status", "cells per view and state; then the cells that need attention",
         _args_status, _cmd_status),
    Verb("estimate", "before submitting: jobs, machine hours, disk and the largest job of the "
         "cells still to compute",
         _args_estimate, _cmd_estimate),
    Verb("compare-paper", "the paper's figure values (F1-F16) beside ours, with verdicts, "
         "as a Markdown table",
         _args_compare_paper, _cmd_compare_paper),
    Verb("ablation-table", "recipe variants side by side: one row per variant and width, a "
         "metric at every epoch (mean ± sd over seeds), its change at epoch 1 from the first dataset's",
         _args_ablation_table, _cmd_ablation_table),
    Verb("means", "seed means of metrics as a Markdown table: a column per value of one axis, a row per metric "
         "(and per value of another axis), at picked values",
         _args_means, _cmd_means),
    Verb("first-epoch", "R_train, R_test and K-NN after fractions of the first epoch (the F11 "
         "ablation); the recipe from the cell options, one pack of --widths × --seeds",
         _args_first_epoch, _cmd_first_epoch),
    Verb("first-epoch-table", "readings of acthash first-epoch side by side: one row per recipe and width, "
         "one column per number of steps read (mean ± sd over seeds)",
         _args_first_epoch_table, _cmd_first_epoch_table),
    Verb("boundaries", "the phase chart's critical widths (where R crosses r_hi and r_lo) for "
         "every (epoch, n_train), to the grid's precision with the range over seeds, and their power laws",
         _args_boundaries, _cmd_boundaries),
    Verb("robustness", "how many cells of each chart slice change regime when r_hi, r_lo or eps "
         "move by a factor either way, and the near-ties",
         _args_robustness, _cmd_robustness),
    Verb("effects", "how far each axis moves R_test and K-NN: the factors' levels against "
         "width, training time and sample size, on one scale (a table, and a figure with --figure)",
         _args_effects, _cmd_effects),
    Verb("drift", "whether a rerun moved the numbers: the cells both datasets hold, per metric and epoch, their "
         "seed means against seed noise and, where the runs share seeds, seed by seed",
         _args_drift, _cmd_drift),
    Verb("evidence", "the committed evidence (docs/evidence.yaml): check the generated tables, say what made "
         "each dataset, rewrite the tables, redraw the figures, or reproduce every dataset, table and figure "
         "(resumable; make reproduce)",
         _args_evidence, _cmd_evidence),
    Verb("params", "every cell and phase parameter: default, allowed values, meaning",
         _args_params, _cmd_params),
)


def build_parser() -> argparse.ArgumentParser:
    """`acthash`'s parser: one subcommand per row of VERBS."""
    parser = argparse.ArgumentParser(prog="acthash", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    for verb in VERBS:
        p = sub.add_parser(verb.name, help=verb.help)
        verb.arguments(p)
        p.set_defaults(func=verb.run)
    return parser


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `acthash status | head` ends quietly
    args = build_parser().parse_args(argv)
    try:  # a bad value is reported as one line naming it, not as a traceback
        args.func(args)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"acthash {args.verb}: error: {err}")
