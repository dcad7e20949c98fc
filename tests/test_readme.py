"""The README's file list names every source file, rule file, profile, benchmark and document, and its
`acthash estimate` transcript is what the command prints, so neither can fall behind the tree."""

import re
import subprocess

from .conftest import REPO


def test_the_readme_file_list_names_every_file_a_reader_opens():
    listed = set(re.findall(r"^(\S+)\s", REPO.joinpath("README.md").read_text().split("## Files", 1)[1], re.M))
    expected = [p for pattern in ("src/acthash/**/*.py", "src/acthash/**/*.json", "workflow/rules/*.smk",
                                  "profiles/*/*", "benchmarks/*", "docs/*.md")
                for p in REPO.glob(pattern) if p.is_file() and "__pycache__" not in p.parts]
    missing = sorted(str(p.relative_to(REPO)) for p in expected if str(p.relative_to(REPO)) not in listed)
    assert not missing, f"README.md's file list lacks {missing}"


def test_the_readme_estimate_transcript_is_what_the_command_prints(tmp_path):
    text = REPO.joinpath("README.md").read_text()
    block = text[text.index("  $ acthash estimate mnist_width\n"):]
    block = block[:block.index("  ```")]
    for run in re.split(r"^  \$ ", block, flags=re.M)[1:]:
        command, *shown = [line.strip() for line in run.strip().splitlines()]
        printed = subprocess.run([*command.split(), "--results", str(tmp_path)], capture_output=True, text=True,
                                 check=True, cwd=REPO).stdout.splitlines()
        assert len(printed) == len(shown), command
        for want, got in zip(shown, printed):
            if "..." in want:  # an elided list or path: what is around it, and a list's length
                head, tail = (part.strip() for part in want.split("..."))
                count = re.fullmatch(r"\((\d+) views\)", tail)
                assert got.startswith(head), (want, got)
                assert len(got.split(", ")) == int(count[1]) if count else got.endswith(tail), (want, got)
            else:
                assert got == want, command


def test_every_file_the_docs_name_is_in_the_repository():
    """The docs cite files of the repository only (the science spec is docs/spec.md)."""
    docs = [REPO / "README.md", *REPO.glob("docs/**/*.md"), *REPO.glob("config/*.md"), *REPO.glob("profiles/*.md")]
    named = {m for d in docs for m in re.findall(r"\bdocs/[\w/@.+-]*\.(?:md|nc|yaml|ipynb|png|svg)\b", d.read_text())}
    assert named and not sorted(n for n in named if not (REPO / n).exists())
    assert not [d for d in docs if re.search(r"\bSPEC\b", d.read_text()) and d.name != "spec.md"]
