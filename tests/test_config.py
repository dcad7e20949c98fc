"""The configuration: one source for every parameter, the documented precedence, overrides of every key,
short errors naming the key, and views that never replace one another."""

from __future__ import annotations

import collections
import copy
import dataclasses
import re
import subprocess

import jsonschema
import pytest
import yaml

from acthash.params.cell import FIELDS, GRID_AXES, PACK_SHARED, PARAMS, Cell
from acthash.params.config import TOP_KEYS, ConfigError, as_read, coerce, resolve
from acthash.params.fields import check_value, param
from acthash.params.phase_rule import PhaseRule
from acthash.params.schema import schema_yaml

from .conftest import REPO

SHIPPED = yaml.safe_load((REPO / "config/config.yaml").read_text())


def other_value(name: str):
    """A valid value of parameter `name` other than its built-in default, derived from its field."""
    f = FIELDS[name]
    default, m = f.default, f.metadata
    if m["choices"]:
        return next(c for c in m["choices"] if c != default)
    if isinstance(default, bool):
        return not default
    if isinstance(default, tuple):
        return [0, 2]
    if isinstance(default, int):
        return default - 1 if m["lo"] is None or default - 1 >= m["lo"] else default + 1
    return default / 2 if default else 0.1


def demo_config(**top) -> dict:
    config = copy.deepcopy(SHIPPED)
    config.update({"experiments": "demo", **top})
    return config


def test_every_parameter_is_documented_typed_and_bounded_by_its_field():
    for name, f in FIELDS.items():
        assert f.metadata["doc"], name
        assert check_value(name, f.default, FIELDS) is None, name  # the built-in default is allowed by its own bounds
        assert check_value(name, other_value(name), FIELDS) is None, name
    out = subprocess.run(["acthash", "params"], capture_output=True, text=True, check=True).stdout
    for name in PARAMS:
        assert f"| `{name}` |" in out
    for f in dataclasses.fields(PhaseRule):
        assert f"| `phase.{f.name}` |" in out
    for key in TOP_KEYS:  # the workflow's own keys too, each with its meaning
        assert f"| `{key}` |" in out, key


def test_a_repeated_axis_value_is_named_in_a_warning(capsys):
    views = resolve({**SHIPPED, "experiments": "demo", "seed": [0, 0], "width": [8]})
    assert [c.seed for c in views[0].cells if c.n_train == 100] == [0]
    assert "seed=[0, 0]: 0 repeated; each value makes its cells once" in capsys.readouterr().err


def test_shipped_config_restates_no_built_in_default():
    assert not SHIPPED["defaults"] and "phase" not in SHIPPED
    for name, grid in SHIPPED["grids"].items():
        for key, value in grid.items():
            if key in FIELDS and key not in GRID_AXES:
                assert coerce(value) != FIELDS[key].default or key == "checkpoints", f"grids.{name}.{key}"


def test_a_parameter_added_later_keeps_existing_cells_at_their_address():
    @dataclasses.dataclass(frozen=True)
    class WithMomentum(Cell):
        adam_beta1: float = param(0.9, "Adam's beta1", lo=0, hi=1, neutral=0.9)

    assert WithMomentum().param_hash == Cell().param_hash  # the value that reproduces the old cells
    assert WithMomentum(adam_beta1=0.5).param_hash != Cell().param_hash
    assert dataclasses.replace(Cell(), lr=0.02).param_hash != Cell().param_hash
    # the addresses of cells computed before optimizer, sgd_momentum, bn_variance and code_bn existed
    assert Cell().param_hash == "af4ee15f9e37872b"
    f11 = Cell(width=40, n_train=48000, checkpoints=(0, 1, 3, 10), early_stopping=False)
    assert f11.param_hash == "4a59d76cc9fc3eab"
    assert dataclasses.replace(f11, code_bn="batch").param_hash != f11.param_hash


def test_precedence_built_in_then_defaults_then_grid_then_top_level():
    config = demo_config()
    config["grids"]["demo"]["patience"] = 7
    config["defaults"] = {"lr": 0.005, "patience": 3, "knn_k": 5, "phase": {"r_hi": 0.3, "eps": 0.05}}
    config["grids"]["demo"]["phase"] = {"eps": 0.04}
    (view,) = resolve(config)
    cell = view.cells[0]
    assert cell.lr == 0.005 and cell.knn_k == 5  # defaults over built-in
    assert cell.patience == 7  # the grid over defaults
    assert cell.bn_eps == FIELDS["bn_eps"].default  # built-in where nobody says otherwise
    assert view.phase.r_hi == 0.3 and view.phase.eps == 0.04 and view.phase.r_lo == PhaseRule().r_lo
    (top,) = resolve({**config, "knn_k": "3", "patience": "11", "phase": "{eps: 0.03}"})  # command line wins
    assert top.cells[0].knn_k == 3 and top.cells[0].patience == 11 and top.cells[0].lr == 0.005
    assert top.phase.eps == 0.03 and top.phase.r_hi == 0.3 and top.name.startswith("demo@")


@pytest.mark.parametrize("key", PARAMS)
def test_every_key_can_be_overridden_from_the_command_line(key):
    other = other_value(key)
    companion = {"sgd_momentum": {"optimizer": "sgd"}}.get(key, {})  # a key that only acts with another
    config = demo_config(**{key: str(other) if key not in GRID_AXES else f"[{other}]".lower()}, **companion)
    config["grids"]["demo"]["n_train"] = [100]  # fits every dataset's training split
    (view,) = resolve(config)
    values = {getattr(c, key) for c in view.cells}
    expected = tuple(other) if key == "checkpoints" else other
    assert values == {expected}, key
    assert view.name.startswith("demo@")  # an override makes a new view


@pytest.mark.parametrize("top, message", [
    ({"widht": "3"}, "config key widht: unknown key; did you mean width?"),
    ({"width": "[0,10]"}, "width=0: must be int >= 1"),
    ({"dropout": "2"}, "dropout=2: must be float in [0, 1)"),
    ({"lr": "fast"}, "lr='fast': must be float > 0"),
    ({"experiments": "dmeo"}, "experiments=dmeo: unknown experiment; did you mean demo?"),
    ({"n_train": "100000"}, "n_train=100000: exceeds the mnist training split (48000 examples"),
    ({"arch": "resnet20", "depth": "2"}, "depth=2: a CNN's depth is set by arch='resnet20'"),
    ({"arch": "vgg16", "code_bn": "batch"}, "code_bn='batch': implemented for arch='mlp' only"),
    ({"bn": "false", "bn_variance": "biased"}, "bn_variance='biased': needs bn=True"),
    ({"sgd_momentum": "0.5"}, "sgd_momentum=0.5: used only with optimizer='sgd'"),
    ({"code_bn": "batch", "random_inputs": "uniform01"}, "random_inputs='uniform01': read with moving statistics"),
    ({"phase": {"r_hi": 2}}, "phase.r_hi=2: must be float in [0, 1]"),
    ({"pack_over": "[widht]"}, "pack_over=['widht']: each entry must be one of"),
    ({"pack_over": "[augment]"}, "pack_over=['augment']: each entry must be one of width, n_train"),
    ({"phase": "{r_hig: 1}"}, "phase.r_hig: unknown key; did you mean r_hi?"),
    ({"measure_on": "gpu"}, "measure_on=gpu: must be one of pack, cpu"),
    ({"seed": "[18446744073709551616]"}, "seed=18446744073709551616: must be int in [0, 4294967295]"),
    ({"knn_k": "5000", "n_train": "[100]"}, "knn_k=5000: exceeds n_train=100"),
    ({"lr": ".inf"}, "lr=inf: must be float > 0"),
    ({"weight_decay": ".inf"}, "weight_decay=inf: must be float >= 0"),
    ({"state_every_min": "0"}, "state_every_min=0: must be a number of minutes > 0"),
])
def test_a_bad_key_or_value_is_one_line_naming_it(top, message):
    with pytest.raises(ConfigError) as err:
        resolve(demo_config(**top))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_typo_in_a_grid_names_the_grid_and_the_closest_key():
    config = demo_config()
    config["grids"]["demo"]["knn"] = 3
    with pytest.raises(ConfigError, match=r"grids\.demo\.knn: unknown key; did you mean knn_k\?"):
        resolve(config)


def test_views_are_named_by_experiment_overrides_or_the_user():
    assert [v.name for v in resolve(demo_config())] == ["demo"]
    a, b = resolve(demo_config(width="[8,32]")), resolve(demo_config(width="[8,32]"))
    assert a[0].name == b[0].name != resolve(demo_config(width="[8]"))[0].name
    assert resolve(demo_config(width="[8]", view="quick"))[0].name == "demo@quick"
    with pytest.raises(ConfigError, match="a/b'.*letters, digits"):
        resolve(demo_config(view="a/b"))


def test_an_integer_written_for_a_float_is_the_same_cell():
    assert Cell(label_noise=0, lr=1).param_hash == Cell(label_noise=0.0, lr=1.0).param_hash
    (a,), (b,) = resolve(demo_config(dropout="[0]")), resolve(demo_config(dropout="[0.0]"))
    assert [c.param_hash for c in a.cells] == [c.param_hash for c in b.cells]


def test_packable_axes_are_those_a_stacked_model_may_vary():
    assert set(PACK_SHARED) < set(PARAMS)
    config = demo_config(pack_over="[width, seed, n_train]")
    (view,) = resolve(config)
    assert view.pack_over == ("width", "seed", "n_train")


def test_every_shipped_experiment_resolves():
    views = resolve({**copy.deepcopy(SHIPPED), "experiments": "all"})
    assert [v.experiment for v in views] == list(SHIPPED["grids"])
    assert [v.name for v in resolve({**copy.deepcopy(SHIPPED), "experiments": "demo,all"})] == list(SHIPPED["grids"])
    assert all(v.cells for v in views)


def test_the_shipped_config_writes_each_long_list_once():
    """Lists several grids share are named once (YAML anchors), so changing one cannot leave a copy behind."""
    lists = collections.Counter(re.findall(r"\[[^\]\n]{20,}\]", (REPO / "config" / "config.yaml").read_text()))
    assert not [text for text, n in lists.items() if n > 1]


def schema_errors(config: dict) -> list[str]:
    """The committed schema's complaints about `config` as the workflow passes it (coerced), as key paths."""
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [".".join(map(str, e.absolute_path)) for e in validator.iter_errors(as_read(config))]


def test_the_committed_schema_is_generated_from_the_parameter_records():
    committed = (REPO / "workflow/schemas/config.schema.yaml").read_text()
    assert committed == schema_yaml(), "run: acthash params --schema > workflow/schemas/config.schema.yaml"


@pytest.mark.parametrize("key", PARAMS)
def test_the_schema_accepts_every_override_resolve_accepts(key):
    other = other_value(key)
    config = demo_config(**{key: str(other) if key not in GRID_AXES else f"[{other}]".lower()})
    assert schema_errors(config) == []


@pytest.mark.parametrize("top", [{"view": "1.5"}, {"view": "true"}, {"view": "2024"}, {"data_root": "2024"},
                                 {"state_every_min": "5"}, {"experiments": "demo,mnist_width"}])
def test_the_schema_accepts_what_resolve_takes_as_written_or_reads_as_yaml(top):
    resolve(demo_config(**top))
    assert schema_errors(demo_config(**top)) == []


def test_the_schema_accepts_every_shipped_config():
    assert schema_errors({**SHIPPED, "experiments": "all"}) == []
    ablation = yaml.safe_load((REPO / "config/f11_ablation.yaml").read_text())
    assert schema_errors({**SHIPPED, **ablation}) == []


@pytest.mark.parametrize("top, key", [
    ({"widht": "3"}, ""),  # an unknown key: the object itself is wrong
    ({"width": "[0,10]"}, "width"),
    ({"width": "[]"}, "width"),
    ({"dropout": "2"}, "dropout"),
    ({"lr": "fast"}, "lr"),
    ({"lr": "0"}, "lr"),
    ({"bn": "2"}, "bn"),
    ({"dataset": "cifar100"}, "dataset"),
    ({"checkpoints": "[]"}, "checkpoints"),
    ({"phase": {"r_hi": 2}}, "phase.r_hi"),
    ({"phase": "{r_hig: 1}"}, "phase"),
    ({"pack_over": "[augment]"}, "pack_over"),
    ({"pack_size": "0"}, "pack_size"),
    ({"measure_on": "gpu"}, "measure_on"),
    ({"seed": "[18446744073709551616]"}, "seed"),
    ({"state_every_min": "0"}, "state_every_min"),
    ({"checkpoints": "5"}, "checkpoints"),
])
def test_the_schema_and_resolve_reject_the_same_bad_values(top, key):
    """Every value resolve rejects by itself, the schema rejects at the same key (combinations of keys and
    non-finite numbers are resolve's alone)."""
    with pytest.raises(ConfigError):
        resolve(demo_config(**top))
    assert key in schema_errors(demo_config(**top))
