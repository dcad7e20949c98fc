"""The size of the package's units, pinned: no function over 60 lines and no class over 150 in src/ (a unit that
grows past them holds more than one concept: split it)."""

import ast

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
