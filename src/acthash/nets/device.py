"""What a pack's cell files record of the machine and software that trained them: the device (`device_name`; read
back by `acthash.store.machine.hardware`) and the package versions (`versions`; read back by
`CellRecord.origin`); and the numeric libraries that shape its floats (`blas_summary`), which the test reports
name."""

from __future__ import annotations

import os
import platform
import sys

import h5py
import numpy as np  # also so that threadpoolctl sees its BLAS
import torch

from acthash.store.machine import cpu_model


def device_name(device: str) -> str:
    """The device a pack trains on, as cell files record it: 'cuda:0: <GPU name>' or 'cpu: <threads> threads,
    <CPU model>'."""
    if device.startswith("cuda"):
        return f"{device}: {torch.cuda.get_device_name(torch.device(device))}"
    return f"cpu: {torch.get_num_threads()} threads, {cpu_model()}"


def blas_summary() -> str:
    """One line on the numeric libraries that shape float results: torch's BLAS and CPU kernels, numpy's BLAS."""
    import threadpoolctl

    config = torch.__config__.show()
    blas = next((part.split("=", 1)[1] for part in config.replace(",", "\n").split() if part.startswith("BLAS_INFO=")),
                "unknown")
    numpy_blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')})"
                  for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    return (f"torch {torch.__version__} (BLAS {blas}, CPU kernels {torch.backends.cpu.get_cpu_capability()}), "
            f"numpy BLAS {', '.join(numpy_blas) or 'unknown'}, {os.cpu_count()} CPUs")


def versions() -> dict[str, str]:
    """Versions of the packages that shape the results."""
    import sklearn

    from acthash import __version__

    out = {"acthash": __version__, "torch": torch.__version__, "scikit-learn": sklearn.__version__,
           "numpy": np.__version__, "h5py": h5py.__version__, "python": platform.python_version()}
    if "tensorflow" in sys.modules:  # a Keras cell (framework: keras) was trained in this process
        out.update(tensorflow=sys.modules["tensorflow"].__version__, tf_keras=sys.modules["tf_keras"].__version__)
    return out
