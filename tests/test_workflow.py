"""The Snakemake workflow: lint, format, dry runs of every shipped experiment, config errors by key, a small
grid run for real through profiles/local whose merged dataset has the documented contract, sub-grid views
that recompute nothing, and damaged cell files that heal while the merged dataset stays in place."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml
from matplotlib.collections import QuadMesh

from acthash.analysis.boundaries import boundary_table
from acthash.analysis.catalog import captions
from acthash.analysis.line_figure import panels
from acthash.analysis.merge import MergeError, load, merge_files, phase_rule
from acthash.analysis.phase import REGIMES, robustness_table
from acthash.analysis.plots import figures
from acthash.params.layout import Layout
from acthash.store.cellfile import read_cell
from acthash.store.machine import cpu_model
from acthash.store.plan import read_plan

from .conftest import NO_SLURM, REPO, copy_workflow, reseal, snakemake

TINY = {"grids": {"tiny": {"dataset": "digits", "width": [4, 24], "n_train": [200, 1000], "seed": [0, 1],
                           "checkpoints": [0, 3], "early_stopping": False, "kmeans_n_init": 3}}}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A copy of the workflow, config and profiles, with the tiny digits grid added."""
    root = copy_workflow(tmp_path_factory.mktemp("wf"))
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return root


def test_lint_is_clean(workdir):
    proc = snakemake(workdir, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakefmt_is_clean():
    proc = subprocess.run(["snakefmt", "--check", str(REPO / "workflow")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def job_counts(out: str) -> dict[str, int]:
    """The "Job stats" table of a Snakemake run: rule → jobs."""
    table = out[out.index("Job stats:"):].split("\n\n")[0].splitlines()[3:]
    return {line.split()[0]: int(line.split()[1]) for line in table}


def test_dry_run_of_every_shipped_experiment(workdir):
    shipped = sorted(yaml.safe_load((REPO / "config/config.yaml").read_text())["grids"])
    proc = snakemake(workdir, "-n", "--config", "experiments=all")
    out = proc.stdout + proc.stderr
    for experiment in shipped:  # each gets its plan and merge
        assert f"results/{experiment}/plan.json" in out and f"results/{experiment}/.staged/metrics.nc" in out
    counts = job_counts(out)
    assert counts["pack"] >= len(shipped) and counts["total"] <= 300  # few right-sized jobs for a scheduler


def test_a_shipped_sweep_is_one_pack_job(workdir):
    jobs = job_counts(snakemake(workdir, "-n", "--config", "experiments=mnist_width").stdout)
    # 23 widths x 10 seeds share every other parameter: one stacked model (pack_size 230)
    assert jobs == {"fetch_data": 1, "plan": 1, "pack": 1, "merge": 1, "figures": 1, "all": 1, "total": 6}
    split = job_counts(snakemake(workdir, "-n", "--config", "experiments=mnist_width", "measure_on=cpu").stdout)
    # measure_on=cpu: the pack's training job (GPU partition), then its measuring job (CPU partition)
    assert split == {"fetch_data": 1, "plan": 1, "pack": 1, "pack_measure": 1, "merge": 1, "figures": 1,
                     "all": 1, "total": 7}


def test_a_dry_run_shows_each_pack_jobs_request_capped_at_the_profiles_max_runtime(workdir):
    """mnist_width is one 230-cell pack: it asks twice its estimate, or the site's max_runtime when lower."""
    asks = re.compile(r"train and measure .*; asks (\d+) min, (\d+) MB")
    free = asks.search(snakemake(workdir, "-n", "--config", "experiments=mnist_width").stdout)
    assert free and int(free[1]) > 120 and int(free[2]) > 4000
    capped = snakemake(workdir, "-n", "--config", "experiments=mnist_width", "--default-resources", "max_runtime=120")
    assert asks.search(capped.stdout)[1] == "120"


def test_a_slurm_dry_run_names_the_profiles_unedited_account_placeholder(workdir):
    profile = ("--workflow-profile", str(workdir / "profiles/slurm"))
    shipped = snakemake(workdir, "-n", *profile, "--config", "experiments=demo")
    assert "slurm_account is still the profile's placeholder 'myaccount'" in shipped.stderr
    edited = snakemake(workdir, "-n", *profile, "--config", "experiments=demo", "--default-resources",
                       "slurm_account=physics42", "slurm_partition=cpu")
    assert "placeholder" not in edited.stderr


@pytest.mark.parametrize("override, message", [
    ("width=[0,10]", "width=0: must be int >= 1"), ("dropout=2", "dropout=2: must be float in [0, 1)"),
    ("experiments=nope", "experiments=nope: unknown experiment"), ("lr=fast", "lr='fast': must be float > 0"),
    ("widht=3", "widht: unknown key; did you mean width?"), ("n_train=100000", "exceeds the mnist training split")])
def test_config_errors_are_one_line_naming_the_key(workdir, override, message):
    proc = snakemake(workdir, "-n", "--config", override, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and message in out
    assert len(out.strip().splitlines()) <= 4, out  # the message, not a schema dump or a traceback


def test_unknown_key_in_a_grid_is_named(workdir, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"grids": {"tiny": {"dataset": "digits", "widht": [3]}}}))
    proc = snakemake(workdir, "-n", "--configfile", str(bad), "--config", "experiments=tiny", check=False)
    assert proc.returncode != 0 and "grids.tiny.widht: unknown key; did you mean width?" in proc.stdout + proc.stderr


def test_edited_defaults_change_the_planned_cells(tmp_path):
    root = copy_workflow(tmp_path)
    path = root / "config/config.yaml"
    config = yaml.safe_load(path.read_text())
    config["defaults"] = {"lr": 0.005, "patience": 5, "phase": {"r_hi": 0.2}}
    path.write_text(yaml.safe_dump(config))
    snakemake(root, "results/demo/plan.json", "--cores", "1")
    plan = read_plan(root / "results/demo/plan.json")
    assert {c["params"]["lr"] for c in plan["cells"]} == {0.005}
    assert {c["params"]["patience"] for c in plan["cells"]} == {5}
    assert plan["phase"]["r_hi"] == 0.2


@pytest.fixture(scope="module")
def tiny_run(workdir) -> Path:
    snakemake(workdir, "--workflow-profile", str(workdir / "profiles/local"), "--configfile",
              str(workdir / "tiny.yaml"), "--config", "experiments=tiny", "data_root=data", "--cores", "2")
    return workdir / "results" / "tiny"


def run_tiny(workdir: Path, *config: str) -> str:
    proc = snakemake(workdir, "--workflow-profile", str(workdir / "profiles/local"), "--configfile",
                     str(workdir / "tiny.yaml"), "--config", "experiments=tiny", "data_root=data", *config,
                     "--cores", "2")
    return proc.stdout + proc.stderr


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_small_grid_runs_locally_and_merges_to_the_contract(tiny_run):
    ds = load(tiny_run / "metrics.nc")
    assert dict(ds.sizes) == {"width": 2, "epoch": 2, "n_train": 2, "seed": 2, "epoch_trained": 3}
    for var in ("redundancy_train", "redundancy_test", "kmeans_purity_train", "kmeans_purity_test",
                "kmeans_hungarian_train", "kmeans_hungarian_test", "knn_test", "logreg_test", "net_loss_train",
                "net_acc_train", "net_loss_test", "net_acc_test", "code_bits", "regime"):
        assert var in ds, var
        assert "description" in ds[var].attrs
    assert ds["depth"].item() == 1 and ds["dataset"].item() == "digits"
    assert np.isfinite(ds["knn_test"]).all() and set(np.unique(ds["regime"])) <= {0, 1, 2}
    assert ds.attrs["cells_hash"] and "r_hi" in ds.attrs["phase"] and ds.attrs["acthash_version"]
    for var in ds.data_vars:  # xarray's own plots label axes from these
        assert ds[var].attrs.get("long_name") or var == "status", var
    assert ds["regime"].attrs["long_name"] == "regime" and "units" not in ds["regime"].attrs
    assert set(np.unique(ds["trained_on"])) == {cpu_model()} == {ds.attrs["trained_on"]}  # each cell's CPU
    cell = ds.isel(width=0, n_train=1, seed=1)  # the training curves: each cell file's history, epoch by epoch
    history = read_cell(Path(Layout(str(tiny_run.parent)).cell(str(cell["cell_hash"].item())))).history
    assert ds["train_loss"].dims[-1] == "epoch_trained" and ds.sizes["epoch_trained"] == 3
    np.testing.assert_array_equal(cell["train_loss"].values, history["loss"])
    np.testing.assert_array_equal(cell["train_lr"].values, history["lr"])
    assert set(np.unique(ds["trained_version"])) == set(np.unique(ds["measured_version"])) == {
        ds.attrs["acthash_version"]} and ds.attrs["mixture"] == "none"
    assert ds["net_acc_test"].sel(epoch=3, width=24, n_train=1000).min() > 0.7
    assert (ds["redundancy_test"].sel(epoch=3, width=4) > ds["redundancy_test"].sel(epoch=3, width=24)).all()
    figures = sorted(p.name for p in (tiny_run / "figures").iterdir())
    assert "regimes_width_x_n_train.png" in figures and "lines_vs_width.png" in figures


@pytest.mark.slow
def test_every_figure_is_written_as_png_and_svg_with_labelled_axes_and_one_block_per_cell(tiny_run):
    ds = load(tiny_run / "metrics.nc")
    drawn = dict(figures(ds))
    written = {p.name for p in (tiny_run / "figures").iterdir()}
    assert {"regimes_width_x_n_train", "regimes_width_x_epoch", "lines_vs_width"} <= set(drawn)
    for stem, fig in drawn.items():
        assert {f"{stem}.png", f"{stem}.svg"} <= written
        for ax in (a for a in fig.axes if a.get_visible()):
            assert ax.get_xlabel() and ax.get_ylabel(), (stem, ax.get_title())
            assert ax.get_xlabel() in {d.attrs["long_name"] for d in ds.coords.values()}, (stem, ax.get_xlabel())
    small_multiples = drawn["regimes_width_x_n_train"]
    regimes = small_multiples.axes[0]  # one panel per checkpoint epoch
    assert [a.get_title() for a in small_multiples.axes if a.get_visible()] == \
        [f"epoch {e}" for e in ds["epoch"].values]
    mesh = next(c for c in regimes.collections if isinstance(c, QuadMesh))
    assert mesh.get_array().size == ds.sizes["width"] * ds.sizes["n_train"]  # each grid cell its own block
    assert [t.get_text() for t in regimes.get_xticklabels()] == [f"{w:g}" for w in ds["width"].values]
    legend = {t.get_text() for t in small_multiples.legends[0].get_texts()}
    assert legend & set(REGIMES.values()) and any(t.startswith("R test = ") for t in legend)
    lines = drawn["lines_vs_width"]
    assert {a.get_ylabel() for a in lines.axes if a.get_visible()} == {ds[m].attrs["long_name"] for m in panels(ds)}
    assert "kmeans_purity_test" in panels(ds)
    for fig in drawn.values():
        plt.close(fig)
    rule = phase_rule(ds)  # the tables beside them are what `acthash boundaries` and `acthash robustness` print
    assert (tiny_run / "figures/table_boundaries.md").read_text() == boundary_table(ds, rule)
    assert (tiny_run / "figures/table_robustness.md").read_text() == robustness_table(ds, rule)


@pytest.mark.slow
def test_rerun_is_a_no_op_and_status_reports_done(workdir, tiny_run):
    proc = snakemake(workdir, "-n", "--workflow-profile", str(workdir / "profiles/local"), "--configfile",
                     str(workdir / "tiny.yaml"), "--config", "experiments=tiny", "data_root=data")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    out = subprocess.run(["acthash", "status", str(workdir / "results")], capture_output=True, text=True, check=True)
    assert '"done": 8' in out.stdout and "logs/packs/" not in out.stdout  # only cells needing attention listed
    every = subprocess.run(["acthash", "status", "--all", str(workdir / "results")], capture_output=True, text=True)
    assert every.stdout.count("logs/packs/") == 8  # each cell's pack log, found by its hash


@pytest.mark.slow
def test_a_sub_grid_is_a_new_view_and_the_full_grid_recomputes_nothing(workdir, tiny_run):
    before = digest(tiny_run / "metrics.nc")
    cells = sorted((workdir / "results/cells").glob("*.h5"))
    mtimes = [p.stat().st_mtime for p in cells]
    out = run_tiny(workdir, "seed=[0]", "width=[24]", "view=quick")
    assert "train and measure" not in out  # no pack job: every cell of the sub-grid exists already
    quick = load(workdir / "results/tiny@quick/metrics.nc")
    assert dict(quick.sizes) == {"width": 1, "epoch": 2, "n_train": 2, "seed": 1, "epoch_trained": 3}
    full = load(tiny_run / "metrics.nc")
    np.testing.assert_array_equal(quick["knn_test"].values[0, :, :, 0], full["knn_test"].sel(width=24, seed=0).values)
    again = snakemake(workdir, "-n", "--workflow-profile", str(workdir / "profiles/local"), "--configfile",
                      str(workdir / "tiny.yaml"), "--config", "experiments=tiny", "data_root=data")
    assert "Nothing to be done" in again.stdout + again.stderr
    run_tiny(workdir)
    assert digest(tiny_run / "metrics.nc") == before
    assert [p.stat().st_mtime for p in cells] == mtimes
    changed = run_tiny(workdir, "knn_k=3", "view=k3")  # another recipe: new cells, a new view
    assert "train and measure" in changed and digest(tiny_run / "metrics.nc") == before
    assert len(list((workdir / "results/cells").glob("*.h5"))) == 16


# A Snakemake run under a counter of HDF5 opens (cell files are HDF5): the parse of a main process or of a job.
COUNT_OPENS = """
import atexit, sys
import h5py
opened, real = [], h5py.File
def counting(name, *args, **kwargs):
    opened.append(str(name))
    return real(name, *args, **kwargs)
h5py.File = counting
atexit.register(lambda: print(f"HDF5 files opened: {len(opened)}", file=sys.stderr))
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_a_jobs_own_parse_opens_no_cell_file_and_runs_the_pack_the_main_process_planned(workdir, tiny_run):
    """The main process surveys the view's cell files once and writes the run's work file; a job's own parse (as
    a SLURM job runs it: --mode remote --target-jobs) reads that file instead and opens no cell file."""
    args = ["-s", str(workdir / "workflow/Snakefile"), "--directory", str(workdir), "-n", "--workflow-profile",
            str(workdir / "profiles/local"), "--configfile", str(workdir / "tiny.yaml"), "--config",
            "experiments=tiny", "data_root=data", "seed=[0, 9]", "view=jobparse"]  # seed 0 done, seed 9 to train

    def parse(*extra: str, fails: bool = False) -> tuple[int, str]:
        proc = subprocess.run([sys.executable, "-c", COUNT_OPENS, *args, *extra], capture_output=True, text=True,
                              cwd=workdir, env={**os.environ, **NO_SLURM})
        assert (proc.returncode != 0) == fails, proc.stderr[-3000:]
        if fails:
            return 0, proc.stdout + proc.stderr
        return int(re.search(r"HDF5 files opened: (\d+)", proc.stderr).group(1)), proc.stdout + proc.stderr

    assert parse()[0] == 4  # the view's 4 cells of seed 0 (2 widths × 2 n), once each; seed 9 has no files yet
    work = max((workdir / "results/packs").glob("work-*.json"), key=lambda p: p.stat().st_mtime)
    packs = json.loads(work.read_text())["packs"]
    assert packs and {c["seed"] for pack in packs for c in pack["cells"]} == {9}
    opened, out = parse("--mode", "remote", "--target-jobs", f"pack:pack={packs[0]['id']}")
    assert opened == 0 and f"pack {packs[0]['id']}: train and measure" in out, out[-2000:]
    work.write_text(work.read_text()[:40])  # cut short: the job stops with one line naming the file
    _, out = parse("--mode", "remote", "--target-jobs", f"pack:pack={packs[0]['id']}", fails=True)
    assert re.search(rf"^acthash: \S*{re.escape(work.name)}: the run's work file cannot be read \(.*\); the main "
                     "Snakemake process writes it when it starts: start the run again$", out, re.M), out[-2000:]


@pytest.mark.slow
def test_damaged_cell_files_are_recomputed_while_the_merged_dataset_stays(workdir, tiny_run):
    import h5py

    layout = Layout(str(workdir / "results"))
    plan = read_plan(tiny_run / "plan.json")
    truncated, foreign, flipped = (Path(layout.cell(c["hash"])) for c in plan["cells"][:3])
    truncated.write_bytes(truncated.read_bytes()[:2000])
    other = Path(layout.cell(plan["cells"][3]["hash"]))
    shutil.copyfile(other, foreign)  # a complete file, made with other parameters
    with h5py.File(flipped, "a") as f:  # one bit of a stored metric: R_test 0.9801 would read 0.7301, say
        original = f["metrics/redundancy_test"][()]
        f["metrics/redundancy_test"][...] = (original.view(np.uint64) ^ np.uint64(1 << 51)).view(np.float64)
    assert re.search(rf"{flipped.stem}\s+damaged\s+its parameters or metrics changed since it was written",
                     status_of(workdir))
    with pytest.raises(MergeError, match=f"{flipped}: its parameters or metrics changed"):
        merge_files(tiny_run / "plan.json", [Path(layout.cell(c["hash"])) for c in plan["cells"]],
                    workdir / "flipped.nc")
    seen, stop = [], threading.Event()

    def watch():  # metrics.nc must exist at every moment of the rerun
        while not stop.is_set():
            seen.append((tiny_run / "metrics.nc").exists())
            stop.wait(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        out = run_tiny(workdir)
    finally:
        stop.set()
        watcher.join()
    assert seen and all(seen)
    assert f"cells/{truncated.name}: not a readable HDF5 file" in out
    assert f"cells/{foreign.name}: made with other parameters" in out
    assert f"cells/{flipped.name}: its parameters or metrics changed since it was written" in out
    for path in (truncated, foreign, flipped):
        assert read_cell(path, path.stem).attrs["param_hash"] == path.stem
    np.testing.assert_array_equal(read_cell(flipped).metrics["redundancy_test"], original)  # recomputed, same bits
    aside = sorted(p.name.split("-")[0] for p in (workdir / "results/cells/damaged").iterdir())
    assert aside == sorted([truncated.stem, foreign.stem, flipped.stem])  # kept for inspection, not deleted
    ds = load(tiny_run / "metrics.nc")
    assert np.isfinite(ds["knn_test"]).all()


@pytest.mark.slow
def test_the_tutorial_notebook_runs_end_to_end_on_a_runs_results(workdir, tiny_run, monkeypatch):
    """docs/tutorial.ipynb, executed cell by cell in a Jupyter kernel (the `notebook` extra) on a run's merged
    dataset: it loads, selects, draws the regime map and its own figure, recomputes R from the codes (its own
    assert) and reads the boundaries and training curves."""
    import nbclient
    import nbformat

    nb = nbformat.read(REPO / "docs" / "tutorial.ipynb", as_version=4)
    monkeypatch.setenv("ACTHASH_METRICS", str(tiny_run / "metrics.nc"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend: figures become outputs
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum(o.output_type == "display_data" and "image/png" in o.data for o in outputs) >= 3  # three figures
    assert any("critical" in o.get("text", "") for o in outputs)  # the boundary table was printed


@pytest.mark.slow
def test_a_data_root_with_a_space_and_shell_syntax_is_one_path_and_runs_nothing(workdir, tiny_run):
    """Config values reach the rules' shell commands quoted: a data root holding a space and `$(...)` is one
    directory, the run completes, and nothing it holds is executed. While its pack trains, the terminal gets its
    epoch, the networks still training and the time left (the first epoch, the last, and one every 30 s
    between); the finished run names its dataset, figures and logs."""
    root = "my data$(touch PWNED)"
    out = run_tiny(workdir, f"data_root={root}", "width=[5]", "n_train=[200]", "seed=[7]", "view=quoted")
    assert (workdir / root).is_dir() and (workdir / "results/tiny@quoted/metrics.nc").exists(), out
    assert not list(workdir.rglob("PWNED")) and not (workdir / "my").exists()
    lines = re.findall(r"^pack [0-9a-f]+: epoch (\d)/3, 1 of 1 networks training, [\d.]+ s/epoch, about \d+ s left$",
                       out, re.M)
    assert lines[0] == "1" and lines[-1] == "3", out[-3000:]
    assert re.search(r"^pack [0-9a-f]+: 1 cell files in results/cells$", out, re.M)
    assert "acthash: view tiny@quoted: merged dataset results/tiny@quoted/metrics.nc, figures " \
           "results/tiny@quoted/figures/" in out
    assert "acthash: logs under results/logs/" in out


@pytest.mark.slow
def test_a_cut_published_dataset_and_a_cut_or_edited_plan_are_healed_by_a_rerun(workdir, tiny_run):
    """The published metrics.nc is a copy of the staged one: cutting it short leaves the staged one whole,
    `acthash status` says so instead of failing, and a rerun publishes it again. A plan.json cut short or edited
    by hand (another phase rule) is never trusted over the config: the rerun writes it again."""
    published, plan = tiny_run / "metrics.nc", tiny_run / "plan.json"
    whole, expected = published.read_bytes(), plan.read_text()
    published.write_bytes(whole[:1000])
    assert (tiny_run / ".staged" / "metrics.nc").read_bytes() == whole
    assert re.search(r"tiny .*unreadable \(\w+\): rerun the workflow to publish it again", status_of(workdir))
    out = run_tiny(workdir)
    assert f"published {published.relative_to(workdir)} again" in out and published.read_bytes() == whole
    for damage in (expected[: len(expected) // 2], expected.replace('"r_hi": 0.1', '"r_hi": 0.5')):
        assert damage != expected
        plan.write_text(damage)
        out = run_tiny(workdir)
        assert f"{plan.relative_to(workdir)}: " in out and "writing it again" in out
        assert plan.read_text() == expected and load(published).attrs["phase"] == json.dumps(
            json.loads(expected)["phase"])


@pytest.mark.slow
def test_make_report_writes_each_experiments_report_beside_its_results(workdir, tiny_run):
    proc = subprocess.run(["make", "-f", str(REPO / "Makefile"), "report", "EXPERIMENTS=tiny", f"VENV={REPO / '.venv'}",
                           "STAMP=", "SNAKEMAKE_ARGS=--configfile tiny.yaml --cores 2"],
                          cwd=workdir, capture_output=True, text=True, env={**os.environ, **NO_SLURM})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    html = (tiny_run / "report.html").read_text(errors="replace")
    assert "regimes_width_x_n_train.png" in html and "lines_vs_width.png" in html and "metrics.nc" in html
    categories = json.loads(re.search(r"var categories = (\{.*?\});", html).group(1))
    assert {"metrics", "regimes", "boundaries", "lines", "table"} <= set(categories)  # one per kind of file
    assert "table_robustness.md" in json.dumps(categories["table"])
    for kind in ("regimes", "boundaries", "lines", "table"):  # each file with its kind's caption
        assert captions()[kind][:40] in html, kind
    assert not (workdir / "report.html").exists()


@pytest.mark.slow
def test_merge_reads_exactly_the_given_cells_and_names_each_problem(workdir, tiny_run, tmp_path):
    plan = read_plan(tiny_run / "plan.json")
    originals = [Path(Layout(str(workdir / "results")).cell(c["hash"])) for c in plan["cells"]]
    cells = [tmp_path / p.name for p in originals]
    for a, b in zip(originals, cells):
        shutil.copyfile(a, b)
    ds = merge_files(tiny_run / "plan.json", cells, tmp_path / "ok.nc")
    assert ds.sizes["width"] == 2
    cells[1].write_bytes(cells[1].read_bytes()[:500])
    stranger = tmp_path / "0123456789abcdef.h5"
    shutil.copyfile(cells[2], stranger)
    with pytest.raises(MergeError) as err:
        merge_files(tiny_run / "plan.json", cells[1:] + [stranger], tmp_path / "m.nc")
    message = str(err.value)
    assert f"({cells[0].stem}): no cell file given" in message
    assert str(cells[1]) in message and "not a readable HDF5" in message
    assert f"{stranger}: not a cell of view tiny" in message
    assert not (tmp_path / "m.nc").exists()


@pytest.mark.slow
def test_a_sub_grid_runs_as_the_readme_writes_it_without_an_activated_environment(workdir, tiny_run):
    """`.venv/bin/snakemake ... --config experiments=... 'seed=[..]'` with the environment's bin folder off PATH:
    every rule (plan, a pack job training a new cell, merge, figures) runs acthash through Snakemake's own
    interpreter."""
    bare = {**os.environ, **NO_SLURM, "PATH": "/usr/bin:/bin"}
    snakemake_bin = Path(sys.executable).with_name("snakemake")
    proc = subprocess.run([str(snakemake_bin), "--workflow-profile", "profiles/local", "--configfile", "tiny.yaml",
                           "--config", "experiments=tiny", "data_root=data", "seed=[2]", "width=[4]",
                           "n_train=[200]", "--cores", "2"], cwd=workdir, env=bare, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "train and measure" in proc.stdout + proc.stderr  # a new cell: its pack job ran
    view = next(p.parent for p in (workdir / "results").glob("tiny@*/plan.json") if "seed~2" in p.read_text())
    assert dict(load(view / "metrics.nc").sizes) == {"width": 1, "epoch": 2, "n_train": 1, "seed": 1,
                                                                "epoch_trained": 3}
    assert (view / "figures" / "lines_vs_epoch.png").exists()


@pytest.mark.slow
def test_a_view_mixing_devices_or_versions_is_flagged_by_status_the_merge_and_its_figures(workdir, tiny_run, capsys):
    """Cells trained on another CPU model or by another acthash version are named by `acthash status`, warned of
    by the merge, recorded per cell in the dataset and noted above every figure's title."""
    import h5py

    from acthash.analysis.plots import provenance_note

    assert "mixes" not in status_of(workdir)
    plan = read_plan(tiny_run / "plan.json")
    cells = [Path(Layout(str(workdir / "results")).cell(c["hash"])) for c in plan["cells"]]
    with h5py.File(cells[0], "a") as f:
        device, versions = f.attrs["device"], f.attrs["versions"]
        f.attrs["device"] = "cpu: 2 threads, Intel(R) Xeon(R) Processor"
    with h5py.File(cells[1], "a") as f:
        f.attrs["versions"] = json.dumps({**json.loads(versions), "acthash": "0.1.0"})
    try:
        report = status_of(workdir)
        assert "warning: view tiny mixes cells trained on 2 devices (" in report, report
        assert "Intel(R) Xeon(R) Processor: 1 cells" in report
        assert "made by acthash 2 versions (0.1.0: 1 cells" in report
        ds = merge_files(tiny_run / "plan.json", cells, workdir / "mixed.nc")
        assert "warning: view tiny mixes cells trained on 2 devices" in capsys.readouterr().err
        intel = ds["trained_on"].where(ds["cell_hash"] == cells[0].stem, drop=True)
        assert intel.item() == "Intel(R) Xeon(R) Processor"
        assert "2 devices" in ds.attrs["mixture"] and "2 versions" in ds.attrs["mixture"]
        note, mixed = provenance_note(ds)
        assert mixed and note.startswith("MIXED PROVENANCE: cells trained on 2 devices")
    finally:
        with h5py.File(cells[0], "a") as f:
            f.attrs["device"] = device
        with h5py.File(cells[1], "a") as f:
            f.attrs["versions"] = versions
    assert "mixes" not in status_of(workdir)


def status_of(workdir: Path) -> str:
    return subprocess.run(["acthash", "status", str(workdir / "results")], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.slow
def test_a_view_whose_cells_changed_is_stale_until_a_rerun_merges_it_and_old_cells_are_remeasured(workdir, tiny_run):
    """A cell file whose numbers changed after the merge makes its view stale in `acthash status`; one measured
    before a metric existed is 'unmeasured'. A rerun re-measures the second from its codes (no training) and
    merges both again; the view is current after."""
    import h5py

    plan = read_plan(tiny_run / "plan.json")
    changed, old = (Path(Layout(str(workdir / "results")).cell(c["hash"])) for c in plan["cells"][:2])
    assert "current" in status_of(workdir)
    with h5py.File(changed, "a") as f:
        original = f["metrics/knn_test"][()]
        f["metrics/knn_test"][...] = 0.125  # as if recomputed with other numbers
        reseal(f)
    with h5py.File(old, "a") as f:
        logreg = f["metrics/logreg_test"][()]
        del f["metrics/logreg_test"]  # as if measured before the metric existed
        reseal(f)
    report = status_of(workdir)
    assert "stale" in report and re.search(rf"{old.stem}\s+unmeasured\s+lacks logreg_test", report), report
    out = run_tiny(workdir)
    assert f"cell {old.stem}: measured before some metric existed" in out and "train and measure" not in out
    ds = load(tiny_run / "metrics.nc")
    assert set(np.unique(ds["knn_test"].where(ds["cell_hash"] == changed.stem, drop=True))) == {0.125}
    np.testing.assert_array_equal(read_cell(old).metrics["logreg_test"], logreg)  # the same numbers again
    report = status_of(workdir)
    assert "current" in report and "stale" not in report and "unmeasured" not in report
    with h5py.File(changed, "a") as f:
        f["metrics/knn_test"][...] = original
        reseal(f)
    run_tiny(workdir)
    assert np.isfinite(load(tiny_run / "metrics.nc")["knn_test"]).all()


TINY_CNN = {"grids": {"tiny_cnn": {
    "dataset": "digits", "arch": ["resnet20", "vgg16"], "width": [2, 4], "n_train": 200, "seed": [0],
    "checkpoints": [0, 2], "early_stopping": False, "augment": True, "weight_decay": 5e-6, "lr_step": 50,
    "code_units": 256, "kmeans_n_init": 2}}}


@pytest.mark.slow
def test_cnn_grid_runs_locally_with_sampled_codes_and_one_map_per_arch(tmp_path):
    root = copy_workflow(tmp_path)
    (root / "cnn.yaml").write_text(yaml.safe_dump(TINY_CNN))
    snakemake(root, "--workflow-profile", str(root / "profiles/local"), "--configfile", str(root / "cnn.yaml"),
              "--config", "experiments=tiny_cnn", "data_root=data", "--cores", "2")
    ds = load(root / "results/tiny_cnn/metrics.nc")
    assert dict(ds.sizes) == {"arch": 2, "width": 2, "epoch": 2, "n_train": 1, "seed": 1,
                                "epoch_trained": 2}
    assert (ds["code_bits"] <= 256).all() and (ds["code_bits_total"] > 256).all()
    assert np.isfinite(ds["redundancy_test"]).all() and np.isfinite(ds["logreg_test"]).all()
    assert (ds["knn_test"].sel(epoch=2) > 0.3).all()
    assert "code_units" in ds.attrs["recipe"]
    figures = sorted(p.name for p in (root / "results/tiny_cnn/figures").iterdir())  # published
    assert {"regimes_width_x_epoch_resnet20.png", "regimes_width_x_epoch_vgg16.png", "lines_vs_arch.png"} <= set(figures)
