"""`python -m acthash`: the command line, run by the interpreter that has the package (the workflow's rules)."""

from acthash.run.cli import main

main()
