#!/usr/bin/env bash
# Every GPU check and benchmark in one call, on a machine with a GPU (see docs/benchmarks.md):
#   GPU tests, the benchmarks on the device (incl. CNN code extraction), one pack job end to end on the GPU and on
#   the CPU, and the full MNIST width grid end to end.
# Needs data/MNIST/raw (about 11 MB) and torch with CUDA on the machine. Writes to $OUT when set, else to
# results/benchmarks.
set -uo pipefail
out=${OUT:-results/benchmarks}
mkdir -p "$out"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name())"
python -m pytest -q -m gpu tests 2>&1 | tee "$out/gpu_tests.log"
python benchmarks/run_all.py --device cuda --rounds 1 --out "$out/bench_gpu.json" 2>&1 | tee "$out/bench_gpu.log"
# one small pack job end to end (train, codes, every metric) on the GPU, then the same on the CPU
python benchmarks/width_grid.py --device cuda --seeds 1 --checkpoints 0 1 --out "$out/pack_gpu.json" 2>&1 | tail -n 20 | tee "$out/pack_gpu.log"
python benchmarks/width_grid.py --device cpu --seeds 1 --checkpoints 0 1 --out "$out/pack_cpu.json" 2>&1 | tail -n 20 | tee "$out/pack_cpu.log"
python benchmarks/width_grid.py --device cuda --out "$out/width_grid_gpu.json" 2>&1 | tail -n 40 | tee "$out/width_grid_gpu.log"
