"""A run pins torch's and BLAS's threads to ``threads``: a seed's numbers do not depend on who started it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from threadpoolctl import threadpool_info

import judgerl.loop as loop
from judgerl.config import load_config
from judgerl.reward.threads import run_threads


def _blas_threads() -> set[int]:
    return {int(p["num_threads"]) for p in threadpool_info() if p["user_api"] == "blas"}


def test_a_run_pins_blas_and_torch_threads_and_restores_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def pipeline(cfg: Any) -> Path:
        seen.update(blas=_blas_threads(), torch=torch.get_num_threads())
        return cfg.run_dir

    monkeypatch.setattr(loop, "_pipeline", pipeline)
    before = (_blas_threads(), torch.get_num_threads())
    with run_threads(1):  # whatever this process had, a run with threads=2 gets 2 (a sweep worker had 1)
        loop.run(load_config(None, [f"runs_dir={tmp_path}", "threads=2"]))
        assert seen == {"blas": {2}, "torch": 2}
        assert _blas_threads() == {1} and torch.get_num_threads() == 1
    assert (_blas_threads(), torch.get_num_threads()) == before
