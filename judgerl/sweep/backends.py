"""Where a sweep's runs execute: Ray tasks (local Ray on loopback, or a cluster) or local subprocesses.

Both backends start every run in a fresh Python process (Ray: ``max_calls=1``,
so a worker process runs one task and exits; local: one subprocess per run) with
BLAS on one thread, and call the same :func:`~judgerl.sweep.execute.execute_run`:
a seeded run gives the same numbers on either (``tests/unit/test_sweep.py``).

Ray is optional (``pip install -e ".[ray]"``, pinned by constraints.txt). A local
Ray is started bound to 127.0.0.1 only: ``_node_ip_address="127.0.0.1"`` makes
its gRPC servers listen on loopback, and ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
stops Ray 2.60 from replacing 127.0.0.1 by the machine's address (it otherwise
binds GCS, raylet and workers on every interface); no dashboard, and usage
statistics off (``RAY_USAGE_STATS_ENABLED=0``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from judgerl.configbase import ConfigError
from judgerl.sweep.execute import THREAD_ENV, execute_run

OnRecord = Callable[[dict[str, Any]], None]

RAY_INSTALL = 'pip install -c constraints.txt -e ".[ray]"'
"""What to run when Ray is missing (from the judgerl checkout)."""


def require_ray(local: bool) -> Any:
    """Import Ray with usage statistics off (and, for a local Ray, loopback only); a clear error when missing.

    Args:
        local: A local Ray will be started here (then its addresses are pinned to 127.0.0.1).

    Returns:
        The ``ray`` module.

    Raises:
        ConfigError: Ray is not installed, naming the install command.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if local:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported, and by its processes
    try:
        import ray
    except ImportError:
        raise ConfigError(f"the Ray backend needs the `ray` extra: {RAY_INSTALL} (or use --backend local)") from None
    if local:  # ray imported before this call read the variable already: set what it read
        import ray._private.ray_constants as ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
    return ray


def start_ray(address: str | None, num_cpus: int | None) -> tuple[Any, bool]:
    """Connect to a Ray cluster, or start a local one on loopback.

    Args:
        address: ``None`` = start a local Ray; ``auto`` or ``host:port`` = an existing cluster.
        num_cpus: CPUs of a local Ray (default: all of this machine's); ignored for a cluster.

    Returns:
        ``(ray, started)``: the module, and whether this call started Ray (then shut it down after).
    """
    ray = require_ray(local=address is None)
    if ray.is_initialized():
        return ray, False
    if address is None:
        os.environ.update(THREAD_ENV)  # the raylet and its workers inherit the driver's environment
        ray.init(
            address="local",
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,  # each run writes its own log under <sweep>/logs
            configure_logging=False,
        )
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    return ray, True


def run_ray(specs: Sequence[dict[str, Any]], on_record: OnRecord, address: str | None, num_cpus: int | None) -> None:
    """Each spec one Ray task (1 CPU, a fresh worker process); ``on_record`` as each finishes.

    Args:
        specs: Run specs (see :func:`~judgerl.sweep.execute.execute_run`).
        on_record: Called in this thread with each run's record, in completion order.
        address: Cluster address, or ``None`` for a local Ray on loopback.
        num_cpus: CPUs of a local Ray.
    """
    ray, started = start_ray(address, num_cpus)
    try:
        # No runtime_env: a task with one would not use the pre-started workers. Ray gives a 1-CPU task
        # OMP_NUM_THREADS=1 unless the environment sets it; a local Ray inherits THREAD_ENV (start_ray).
        task = ray.remote(num_cpus=1, max_calls=1)(execute_run)
        pending = {task.remote(spec): spec for spec in specs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                spec = pending.pop(ref)
                try:
                    record = ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker process died (OOM, kill -9, node lost)
                    record = {**spec["run"], "status": "error", "error": f"ray: {type(e).__name__}: {e}"[:2000]}
                    record.update(wall_s=0.0, run_dir="", metrics={}, backend="ray")
                on_record(record)
    finally:
        if started:
            ray.shutdown()


def run_local(specs: Sequence[dict[str, Any]], on_record: OnRecord, jobs: int = 1) -> None:
    """Each spec in its own ``python -m judgerl.sweep.execute`` subprocess, ``jobs`` at a time.

    Args:
        specs: Run specs.
        on_record: Called in this thread with each run's record, in completion order.
        jobs: Runs at once (1 = one after the other).
    """
    env = {**os.environ, **THREAD_ENV}

    def one(spec: dict[str, Any]) -> dict[str, Any]:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(spec, f)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "judgerl.sweep.execute", f.name], env=env, capture_output=True, text=True
            )
        finally:
            os.unlink(f.name)
        result = Path(spec["result"])
        if proc.returncode == 0 and result.exists():
            return dict(json.loads(result.read_text()))
        tail = (proc.stderr or proc.stdout)[-2000:]
        return {
            **spec["run"],
            "status": "error",
            "error": f"worker exit {proc.returncode}: {tail}",
            "wall_s": 0.0,
            "run_dir": "",
            "metrics": {},
            "backend": "local",
        }

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, spec) for spec in specs]
        for fut in as_completed(futures):
            on_record(fut.result())
