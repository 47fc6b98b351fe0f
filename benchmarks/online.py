"""Agent throughput with no judge, online labelling and blocking labelling, against the fake OpenAI server.

Each cell is a whole ``judgerl run`` (CartPole, PPO, the chat judge asking the
fake OpenAI-compatible server, which answers after a fixed latency). The agent's
throughput is the env steps it trained divided by the wall-clock time of the
loop's stages before the final evaluation (collect + query + judge + fit +
train): what a blocking run spends waiting for the judge counts against it,
while an online run's judge works in a background thread during ``train``.

- ``none``: ``reward.model: none`` -- the agent on the env reward, no judge at all;
- ``online``: ``labels.mode: online`` (decision 0027);
- ``blocking``: ``labels.mode: blocking`` (collect, judge everything, fit, train);
- ``online_nofit`` (only with ``--modes``): online with background refits off
  (``labels.online_refit_every`` above the budget), which isolates what the fitter costs;
- ``online_fitproc`` (only with ``--modes``): online with the refits in a process of
  their own (``labels.online_fit_process: process``, decision 0038).

The fake server runs in a process of its own by default (``--server process``), as a real
model server does: in the training process (``--server thread``) its request handling
competes with the agent for the interpreter lock, which a user's run never pays for.

``--repeats`` runs the modes interleaved (none, online, blocking, none, ...) and the
table shows each mode's median; the load average is printed because the machine may be
shared.

Usage: python benchmarks/online.py [--latencies 0.2 2] [--steps 16384] [--labels 32] [--repeats 3]
       [--modes none online blocking online_nofit online_fitproc] [--server process|thread] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from judgerl.config import load_config
from judgerl.loop import run
from judgerl.testing.fake_openai import FakeOpenAIServer

STAGES = ("collect", "query", "judge", "fit", "train")


@contextlib.contextmanager
def fake_server(latency: float, where: str) -> Iterator[tuple[str, Any]]:
    """A fake OpenAI server answering after ``latency`` s; yields (base_url, a function returning its stats)."""
    if where == "thread":
        with FakeOpenAIServer(latency_s=latency) as srv:
            yield srv.base_url, lambda: srv.stats
        return
    cmd = [sys.executable, "-m", "judgerl.testing.fake_openai", "--port", "0", "--latency", str(latency)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" on ")[1].split(" ")[0]  # "fake OpenAI server on URL (...)"
        yield url, lambda: httpx.get(f"{url}/stats", timeout=10.0).json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def one_run(
    mode: str, latency: float, steps: int, labels: int, root: Path, rep: int = 0, server: str = "process"
) -> dict[str, Any]:
    """One run; returns its throughput and label numbers."""
    with fake_server(latency, server) as (base_url, server_stats):
        sets = [
            f"runs_dir={root}",
            f"name={mode}-{latency}-r{rep}",
            "task.id=cartpole/balance-v0",
            "query.kind=pairwise",
            "judge.type=openai",
            "judge.client.model=fake",
            "judge.client.api_key_env=",
            "judge.client.logprobs=false",
            f"judge.client.base_url={base_url}",
            "iterations=4",
            "collect_steps=500",
            f"labels.total={labels}",
            f"agent.total_timesteps={steps}",
            "env.n_envs=4",
            "reward.epochs=20",
            "eval.episodes=5",
            "eval.fresh_agent=false",
            "eval.per_iteration=false",
            "labels.online_batch=8",
            "labels.online_refit_every=8",
        ]
        if mode == "none":
            sets.append("reward.model=none")
        elif mode == "online_nofit":
            sets += ["labels.mode=online", f"labels.online_refit_every={labels + 1}"]
        elif mode == "online_fitproc":
            sets += ["labels.mode=online", "labels.online_fit_process=process"]
        else:
            sets.append(f"labels.mode={mode}")
        t0 = time.perf_counter()
        run_dir = run(load_config(None, sets))
        wall = time.perf_counter() - t0
        requests = server_stats()["requests"]
    ev = json.loads((run_dir / "eval.json").read_text())
    busy = sum(float(ev.get(f"time/{s}_s", 0.0)) for s in STAGES)
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["stage"] == "iteration"][-1]
    return {
        "mode": mode,
        "repeat": rep,
        "latency_s": latency,
        "env_steps": ev["budget/env_steps_train"],
        "loop_s": busy,
        "steps_per_s": ev["budget/env_steps_train"] / busy,
        "run_wall_s": wall,
        "labels_ok": ev.get("labels/ok", 0.0),
        "labels_per_s": last.get("labels/per_s"),
        "swaps": last.get("reward/swaps"),
        "server_requests": requests,
        "server": server,
        "return_mean": ev["eval/return_mean"],
    }


def main() -> None:
    """Run every (latency, mode) cell and print a table (and write JSON with ``--out``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latencies", type=float, nargs="+", default=[0.2, 2.0])
    ap.add_argument("--steps", type=int, default=16384)
    ap.add_argument("--labels", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1, help="runs per (latency, mode), interleaved")
    modes = ["none", "online", "blocking", "online_nofit", "online_fitproc"]
    ap.add_argument("--modes", nargs="+", default=modes[:3], choices=modes)
    ap.add_argument("--server", choices=["process", "thread"], default="process", help="where the fake server runs")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if "none" not in args.modes:
        ap.error("--modes must include none (the baseline every ratio is taken against)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for latency in args.latencies:
            for rep in range(args.repeats):
                for mode in args.modes:
                    row = one_run(mode, latency, args.steps, args.labels, Path(tmp), rep, args.server)
                    row["loadavg_1m"] = os.getloadavg()[0]
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    head = ("latency", "mode", "steps/s (median, every repeat)", "x none", "labels", "labels/s", "swaps", "load")
    print("\n" + " | ".join(head))
    for latency in args.latencies:
        base = statistics.median(r["steps_per_s"] for r in rows if r["latency_s"] == latency and r["mode"] == "none")
        for mode in args.modes:
            sel = [r for r in rows if r["latency_s"] == latency and r["mode"] == mode]
            med = statistics.median(r["steps_per_s"] for r in sel)
            every = ", ".join(f"{r['steps_per_s']:.0f}" for r in sel)
            lps = ", ".join("" if r["labels_per_s"] is None else f"{r['labels_per_s']:.2f}" for r in sel)
            swaps = ", ".join("" if r["swaps"] is None else f"{r['swaps']:.0f}" for r in sel)
            labels = ", ".join(f"{r['labels_ok']:.0f}" for r in sel)
            load = ", ".join(f"{r['loadavg_1m']:.1f}" for r in sel)
            print(f"{latency} | {mode} | {med:.0f} ({every}) | {med / base:.3f} | {labels} | {lps} | {swaps} | {load}")
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
