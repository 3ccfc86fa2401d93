"""Reproducible mode: the CPU kernels a run may use, pinned to the AVX2 ones, so that it re-runs
bit for bit on any x86-64 machine with AVX2 and FMA, not only on the machine that made it.

Natively each library picks its kernels by the CPU it finds: torch's vectorised ATen ops,
MKL's BLAS (torch's matmuls), oneDNN, OpenBLAS (numpy's) and numpy's own dispatched loops
(tanh, exp). Kernels of different widths round differently, and training amplifies a 1e-8
difference into another run. Each library reads its choice from the environment when it
loads, so the pins are environment variables, set before the process imports any of them:
`experiments/run.py` re-executes itself with them when `reproducible=true`.
"""

import os
import platform
import sys
from pathlib import Path

PINNED = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's vectorised CPU kernels
    "MKL_CBWR": "AVX2,STRICT",  # MKL's conditional numerical reproducibility, strict mode
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN's kernels
    "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS's kernels (numpy's BLAS)
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's loops above AVX2
}


def pinned() -> bool:
    """Whether this process runs with every pin of reproducible mode."""
    return all(os.environ.get(key) == value for key, value in PINNED.items())


def unpinned_environment() -> dict[str, str]:
    """This process's environment without any of the pins: for a native run beside pinned ones."""
    return {key: value for key, value in os.environ.items() if key not in PINNED}


def reexec_pinned() -> None:
    """Replace this process by itself with the pins set (the same command line)."""
    os.execve(sys.executable, [sys.executable, *sys.argv], os.environ | PINNED)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numerics() -> dict:
    """What a run record keeps of how its numbers were computed: whether in reproducible
    mode, the CPU, and the kernels torch and numpy use on it."""
    import torch
    from numpy._core._multiarray_umath import __cpu_features__

    widest = [f for f in ("AVX512_SPR", "AVX512_ICL", "X86_V4", "AVX2") if __cpu_features__.get(f)]
    return {
        "reproducible": pinned(),
        "cpu": cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "numpy_widest_features": widest[0] if widest else "baseline",
        "pins": {key: os.environ[key] for key in PINNED if key in os.environ},
    }
