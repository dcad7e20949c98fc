#!/usr/bin/env bash
# The test command behind `make test`: the whole suite, with the SLURM tests when this machine can run a
# local cluster (root and apt-get), and a clear line saying so when it cannot.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "make test: SLURM tests enabled (root and apt-get available: a local cluster will be started)"
  export ACTHASH_SLURM_TESTS=1
else
  echo "make test: SLURM tests SKIPPED (they need root and apt-get to start a local cluster)"
fi
python -m pytest -q "$@"
