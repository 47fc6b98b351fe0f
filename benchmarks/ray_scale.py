"""Scale-out: judge throughput over 1, 2 and 4 endpoints, and a sweep on Ray vs the local backend.

Judge throughput: 4 fake OpenAI-compatible servers on 127.0.0.1, each answering after ``--latency``
seconds with ``--slots`` requests served at once (a replica's capacity: more wait in line); one
``ChatJudge`` whose ``judge.client.base_url`` lists the first k of them (k = 1, 2, 4), ``concurrency``
= the slots per endpoint, judges ``--queries`` pairwise queries. Reported: labels/s (median of
``--repeats``), the speed-up over one endpoint (target >= 3.5x at 4), each server's share of the
requests, and the driver's CPU seconds (what the asyncio fan-out costs the driver).

Sweep: ``judgerl sweep`` of 2 grid values x 2 seeds (oracle judge, tiny CartPole budgets) with
``--backend local`` (one run after the other) and with Ray (a local Ray on loopback, 2 CPUs): every
per-seed ``eval.json`` number compared, and each backend's wall-clock. The load average is recorded
because the machine is shared.

Usage: python benchmarks/ray_scale.py [--queries 160] [--latency 0.2] [--slots 2] [--skip-sweep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from judgerl.config import ClientConfig
from judgerl.judges.llm import ChatJudge
from judgerl.testing.cli import TINY_RUN
from judgerl.testing.fake_openai import FakeOpenAIServer
from judgerl.types import Query, Segment, TaskSpec

OUT = Path("benchmarks/results/ray")
TASK = TaskSpec(
    id="bench/values-v0",
    instruction="Keep the value high.",
    env_id="Bench-v0",
    captioner=lambda obs: "",
    success=lambda ret, obs: True,
)
SWEEP_SETS = TINY_RUN  # the tiny oracle-judged CartPole run the sweep tests use


def _segment(i: int, n: int = 25) -> Segment:
    return Segment(
        obs=np.full((n, 3), i, np.float32),
        acts=np.zeros((n, 1), np.float32),
        env_rewards=np.full(n, i, np.float32),
        dones=np.zeros(n, np.float32),
        captions=tuple(f"segment {i}: the value is {i} at step {t}" for t in range(n)),
    )


def throughput(n_queries: int, latency: float, slots: int, repeats: int) -> list[dict]:
    """Labels/s with 1, 2 and 4 endpoints (rows for the table)."""
    servers = [FakeOpenAIServer(latency_s=latency, max_concurrency=slots).start() for _ in range(4)]
    rows = []
    try:
        for k in (1, 2, 4):
            rates, cpu, shares = [], [], []
            for r in range(repeats):
                # distinct queries per repeat and k: nothing is cached, every label is one request
                queries = [Query("pairwise", (_segment(2 * i), _segment(2 * i + 1))) for i in range(n_queries)]
                before = [s.stats["requests"] for s in servers]
                cfg = ClientConfig.model_validate(
                    {
                        "base_url": [s.base_url for s in servers[:k]],
                        "model": "fake",
                        "concurrency": slots,
                        "api_key_env": "",
                    }
                )
                judge = ChatJudge(cfg, seed=r)
                c0, t0 = time.process_time(), time.perf_counter()
                labels = judge.judge(TASK, queries)
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
                if not all(lab.status == "ok" for lab in labels):
                    raise RuntimeError("benchmark labels must all be ok")
                rates.append(n_queries / dt)
                cpu.append(dc)
                shares.append([s.stats["requests"] - b for s, b in zip(servers, before, strict=True)])
            rows.append(
                {
                    "endpoints": k,
                    "labels_per_s": statistics.median(rates),
                    "runs": rates,
                    "driver_cpu_s": statistics.median(cpu),
                    "requests_per_server": shares[-1],
                }
            )
    finally:
        for s in servers:
            s.stop()
    base = rows[0]["labels_per_s"]
    for row in rows:
        row["speedup"] = row["labels_per_s"] / base
    return rows


def sweep(backend: list[str], out: Path) -> float:
    """Run one ``judgerl sweep`` (seconds of wall-clock)."""
    cmd = [
        sys.executable,
        "-m",
        "judgerl.cli",
        "sweep",
        "--grid",
        "judge.oracle.flip_prob=0.0,0.2",
        "--seeds",
        "0..1",
        "--out",
        str(out),
        "--set",
        *SWEEP_SETS,
        *backend,
    ]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(res.stdout[-2000:] + res.stderr[-3000:])
    return time.perf_counter() - t0


def compare_sweeps() -> dict:
    """Local (sequential) vs Ray (2 CPUs): per-seed numbers and wall-clock."""
    with tempfile.TemporaryDirectory() as tmp:
        local, ray = Path(tmp) / "local", Path(tmp) / "ray"
        load0 = os.getloadavg()
        t_local = sweep(["--backend", "local"], local)
        load1 = os.getloadavg()
        t_ray = sweep(["--num-cpus", "2"], ray)
        load2 = os.getloadavg()
        per_run, differing = [], []
        for r in json.loads((ray / "sweep.json").read_text())["runs"]:
            a = json.loads((local / "runs" / r["name"] / "eval.json").read_text())
            b = json.loads((ray / "runs" / r["name"] / "eval.json").read_text())
            keys = [k for k in a if not k.startswith(("time/", "judge/latency"))]
            differing += [f"{r['name']}:{k}" for k in keys if a[k] != b.get(k)]
            per_run.append(
                {
                    "run": r["name"],
                    "compared_keys": len(keys),
                    **{
                        f"{k} (local, ray)": [a.get(k), b.get(k)]
                        for k in ("eval/return_mean", "eval/fresh/return_mean")
                    },
                }
            )
        ray_md = (ray / "sweep.md").read_text()
    return {
        "wall_s_local_sequential": t_local,
        "wall_s_ray_2cpus": t_ray,
        "speedup": t_local / t_ray,
        "differing_keys": differing,
        "runs": per_run,
        "load_before_local": load0,
        "load_before_ray": load1,
        "load_after": load2,
        "ray_sweep_md": ray_md,
    }


def main() -> None:
    """Measure, print and write benchmarks/results/ray/*.json."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=160)
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--slots", type=int, default=2, help="requests each fake server serves at once")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--skip-sweep", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"load average before: {load}  cores: {os.cpu_count()}")
    rows = [] if args.skip_throughput else throughput(args.queries, args.latency, args.slots, args.repeats)
    print(f"{args.queries} pairwise queries, {args.latency * 1000:.0f} ms per request, {args.slots} slots per server")
    print(f"{'endpoints':>9} {'labels/s':>9} {'speed-up':>8} {'driver CPU s':>12}  requests per server")
    for r in rows:
        print(
            f"{r['endpoints']:>9} {r['labels_per_s']:>9.1f} {r['speedup']:>7.2f}x {r['driver_cpu_s']:>12.2f}  "
            f"{r['requests_per_server']}"
        )
    result = {"args": vars(args), "load_before": load, "load_after": os.getloadavg(), "rows": rows}
    if rows:
        (OUT / "throughput.json").write_text(json.dumps(result, indent=2))
    if not args.skip_sweep:
        cmp = compare_sweeps()
        print(cmp["ray_sweep_md"])
        print(
            f"sweep wall-clock: local sequential {cmp['wall_s_local_sequential']:.1f} s, "
            f"ray 2 CPUs {cmp['wall_s_ray_2cpus']:.1f} s ({cmp['speedup']:.2f}x); "
            f"differing eval.json keys: {cmp['differing_keys'] or 'none'}"
        )
        print(
            f"load: before local {cmp['load_before_local']}, before ray {cmp['load_before_ray']}, "
            f"after {cmp['load_after']}"
        )
        (OUT / "sweep_compare.json").write_text(json.dumps(cmp, indent=2))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
