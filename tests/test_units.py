"""The size of the package's units, pinned: no function over 60 lines and no class over 150 in src/ (a unit that
grows past them holds more than one concept: split it); and metric names written only as the registry has them."""

import ast
import re

from acthash.params.cell import PARAMS
from acthash.params.registry import BY_NAME

from .conftest import REPO

MOST_LINES = {ast.FunctionDef: 60, ast.AsyncFunctionDef: 60, ast.ClassDef: 150}


def oversized() -> list[str]:
    """Every function or class of src/acthash longer than MOST_LINES allows, as 'file:line name lines'."""
    out = []
    for path in sorted((REPO / "src" / "acthash").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            most = MOST_LINES.get(type(node))
            if most is not None and node.end_lineno - node.lineno + 1 > most:
                out.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} {node.end_lineno - node.lineno + 1}")
    return out


def test_no_function_over_60_lines_and_no_class_over_150():
    assert oversized() == []


def test_the_size_check_sees_functions_and_classes(tmp_path, monkeypatch):
    """A 61-line function and a 151-line class are reported; the limits themselves are not."""
    src = tmp_path / "src" / "acthash"
    src.mkdir(parents=True)
    body = "\n".join("    x = 1" for _ in range(59))
    (src / "big.py").write_text(f"def ok():\n{body}\n\n\ndef big():\n{body}\n    x = 2\n\n\nclass C:\n"
                                + "\n".join(f"    a{i} = {i}" for i in range(150)) + "\n")
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    assert oversized() == ["src/acthash/big.py:63 big 61", "src/acthash/big.py:126 C 151"]


METRIC_LIKE = re.compile(r"^(redundancy|share|kmeans|knn|logreg|net|code_bits)(_[a-z0-9]+)*$")


def metric_literals(root) -> dict[str, set[str]]:
    """Every string constant of the Python files under `root` shaped like a metric name → the files holding it."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and METRIC_LIKE.match(node.value):
                found.setdefault(node.value, set()).add(path.name)
    return found


def test_every_metric_name_written_in_the_code_is_a_registered_metric_or_parameter(tmp_path):
    """The registry names each metric once; a name written elsewhere (a table's column, the paper's figure
    values, a default) must be one of them, so a renamed metric fails here, not in a user's notebook. The check
    sees a misspelt name."""
    known = set(BY_NAME) | set(PARAMS) | {"net"}  # "net": a metric source
    assert {k: v for k, v in metric_literals(REPO / "src" / "acthash").items() if k not in known} == {}
    (tmp_path / "m.py").write_text('COLUMNS = ("knn_test", "redundancy_tset")\n')
    assert set(metric_literals(tmp_path)) - known == {"redundancy_tset"}
