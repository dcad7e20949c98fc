"""The README's file list names every source file, rule file, profile, benchmark and document, so it cannot
fall behind the tree."""

import re

from .conftest import REPO


def test_the_readme_file_list_names_every_file_a_reader_opens():
    listed = set(re.findall(r"^(\S+)\s", REPO.joinpath("README.md").read_text().split("## Files", 1)[1], re.M))
    expected = [p for pattern in ("src/acthash/**/*.py", "src/acthash/**/*.json", "workflow/rules/*.smk",
                                  "profiles/*/*", "benchmarks/*", "docs/*.md")
                for p in REPO.glob(pattern) if p.is_file() and "__pycache__" not in p.parts]
    missing = sorted(str(p.relative_to(REPO)) for p in expected if str(p.relative_to(REPO)) not in listed)
    assert not missing, f"README.md's file list lacks {missing}"
