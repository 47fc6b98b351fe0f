"""One run of a sweep, as a worker executes it: the same code path as ``judgerl run``.

:func:`execute_run` is what a Ray task or a local subprocess calls. It loads the
run's config (the sweep's config plus the point's, the seed's and the run
directory's overrides), calls :func:`judgerl.cli._start_run` -- path checks, the
run lock, the resume checks, the judge's preflight gate unless ``--force``, the
loop -- with the run's output going to its log file, and returns a JSON-ready
record: status, wall-clock, and the key metrics of its ``eval.json``. The record
is also written to ``<sweep>/results/<run>.json``, so a sweep that is stopped
keeps what finished. A failing run is a record with ``status`` ``failed``,
``stopped`` or ``error``, never an exception: the other runs go on.

Run it as ``python -m judgerl.sweep.execute SPEC.json`` (the local backend does).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

KEY_METRICS = (
    "eval/return_mean",
    "eval/success_rate",
    "eval/fresh/return_mean",
    "eval/fresh/success_rate",
    "eval/normalized_score",
    "eval/fresh/normalized_score",
    "labels/ok",
    "budget/env_steps_total",
)
"""``eval.json`` keys copied into ``sweep.json`` (those a run wrote; see docs/metrics.md)."""

THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
"""Every worker runs its BLAS on one thread, whatever the backend: results then match bit for bit."""


def key_metrics(eval_json: Path) -> dict[str, Any]:
    """The :data:`KEY_METRICS` a run's ``eval.json`` holds (``{}`` when it has none yet)."""
    try:
        data = json.loads(eval_json.read_text())
    except (OSError, ValueError):
        return {}
    return {k: data[k] for k in KEY_METRICS if k in data}


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write a run's record atomically (a killed sweep never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    os.replace(tmp, path)


def execute_run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) one sweep run; never raises for a failing run.

    Args:
        spec: ``config`` (path or ``None``), ``sets`` (``key=value`` overrides,
            the run's own last), ``force``, ``force_config``, ``cwd`` (the
            sweep's working directory, for relative paths in the config),
            ``log`` and ``result`` (paths), ``run`` (the record's identity:
            point, label, seed, name), ``backend``.

    Returns:
        The record: ``spec["run"]`` plus ``status`` (``done``, ``failed``,
        ``stopped``, ``error``), ``error``, ``wall_s`` (seconds of this
        attempt), ``run_dir``, ``metrics`` (:data:`KEY_METRICS`), ``backend``,
        ``host`` and ``pid`` (where it ran).
    """
    for k, v in THREAD_ENV.items():
        os.environ.setdefault(k, v)
    if spec.get("cwd") and Path(spec["cwd"]).is_dir():  # a cluster node may lack the driver's folder
        os.chdir(spec["cwd"])
    t0 = time.perf_counter()
    status, error, run_dir = "done", "", ""
    log = Path(spec["log"])
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        print(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {spec['run']['name']} on pid {os.getpid()}", flush=True)
        try:
            status, error, run_dir = _run(spec)
        except Exception as e:  # a bug or an unexpected failure of one run must not end the sweep
            traceback.print_exc()
            status, error = "error", f"{type(e).__name__}: {e}"
        print(f"== {status} after {time.perf_counter() - t0:.1f} s {error}", flush=True)
    record = {
        **spec["run"],
        "status": status,
        "error": error,
        "wall_s": round(time.perf_counter() - t0, 3),
        "run_dir": run_dir,
        "metrics": key_metrics(Path(run_dir) / "eval.json") if run_dir else {},
        "backend": spec.get("backend", ""),
        "host": os.uname().nodename,
        "pid": os.getpid(),
    }
    write_record(Path(spec["result"]), record)
    return record


def _run(spec: dict[str, Any]) -> tuple[str, str, str]:
    """``(status, error, run_dir)`` of one ``judgerl run``."""
    from judgerl.cli import _start_run  # the very path of `judgerl run` (checks, lock, preflight gate, loop)
    from judgerl.config import ConfigError, load_config, validate_references
    from judgerl.judges.base import JudgeConfigError
    from judgerl.loop import RunStopped

    cfg = load_config(spec["config"], list(spec["sets"]))
    try:
        validate_references(cfg)
        run_dir = _start_run(cfg, force_preflight=bool(spec["force"]), force_config=bool(spec["force_config"]))
    except (ConfigError, JudgeConfigError) as e:
        return "failed", str(e), str(cfg.run_dir)
    except RunStopped as e:
        return "stopped", str(e), str(cfg.run_dir)
    return "done", "", str(run_dir)


def main(argv: list[str] | None = None) -> int:
    """``python -m judgerl.sweep.execute SPEC.json``: run one spec; exit 0 unless the worker itself broke."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m judgerl.sweep.execute SPEC.json", file=sys.stderr)
        return 2
    execute_run(json.loads(Path(args[0]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
