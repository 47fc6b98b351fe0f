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


# Longest first (decision 0030): xdist hands whole files to the next free worker in collection order, so a
# long file collected last runs alone while the other worker idles (the Ray pool's file, 15-30 s, used to be
# among the last). Order: the three longest smoke files (online mode ~30 s, the study ~21 s, the fault suite
# ~14 s), the other smoke files, the unit files of 5-30 s, then the rest (mostly under 3 s each), which fill
# both workers evenly at the end. (The Ray sweep, once the longest, runs in `make test-slow`.)
HEAD = ("tests/smoke/test_online_mode.py", "tests/smoke/test_study_homegrid.py", "tests/smoke/test_fault_suite.py")
LONG_UNIT = (
    "tests/unit/test_score_pool.py",
    "tests/unit/test_check_judge_factory.py",
    "tests/unit/test_feedback_changes_the_policy.py",
    "tests/unit/test_gguf.py",
    "tests/unit/test_reward_trainer.py",
    "tests/unit/test_report.py",
    "tests/unit/test_caption_reward.py",
)


def _rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    if path in HEAD:
        return HEAD.index(path)
    if path.startswith("tests/smoke/"):
        return len(HEAD)
    return len(HEAD) + 1 + LONG_UNIT.index(path) if path in LONG_UNIT else len(HEAD) + 1 + len(LONG_UNIT)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the files longest first (a stable sort: tests keep their order within a file)."""
    items.sort(key=_rank)
