"""Session set-up shared by every test: one BLAS/torch thread per pytest-xdist worker.

`make test` runs two xdist workers on two cores. torch, MKL and OpenBLAS each start one thread per
core by default, so two workers ran four busy threads on two cores: a MiniLM forward pass in one
worker then took 5-6x its single-thread time while the other worker trained an agent (the caption
reward's NetHack contract test: 12.5 s beside other work, 2.1 s with one thread per worker). Set
before torch is imported and inherited by the `judgerl` subprocesses the smoke tests start (a run
sets `threads`, 1 by default, only once its loop starts; imports and encoders before that used 2).
A plain `pytest` in one process keeps the defaults.
"""

from __future__ import annotations

import os

import pytest

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def pytest_configure(config: pytest.Config) -> None:
    """In an xdist worker: one thread for torch and BLAS, here and in every subprocess it starts."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    for name in THREAD_ENV:
        os.environ.setdefault(name, "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
