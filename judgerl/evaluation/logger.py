"""Metrics logging to stdout, a JSONL file and TensorBoard (no telemetry)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Writes namespaced metrics (``judge/...``, ``eval/...``) to three sinks.

    Args:
        run_dir: Run directory; ``metrics.jsonl`` and ``tb/`` are created there.
        stdout: Print a compact line per ``log`` call.
        tensorboard: Also write TensorBoard scalars (needs the ``tensorboard`` package).
    """

    def __init__(self, run_dir: str | Path, stdout: bool = True, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.stdout = stdout
        self._tb: Any = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tb"))

    def log(self, step: int, metrics: dict[str, float], stage: str = "") -> None:
        """Append one record; ``step`` is the iteration (or env step) it belongs to."""
        clean = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and math.isfinite(float(v))}
        record = {"step": step, "time": time.time(), "stage": stage, **clean}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in clean.items():
                self._tb.add_scalar(k, v, step)
            self._tb.flush()
        if self.stdout and clean:
            shown = "  ".join(f"{k}={v:.4g}" for k, v in clean.items())
            print(f"[{stage or 'metrics'} {step}] {shown}", flush=True)

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """All records of a run's ``metrics.jsonl`` (empty list if none)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
