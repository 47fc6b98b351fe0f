"""Fault runs of online (and blocking) labelling against the fake OpenAI server; its request log is the evidence.

Each scenario is a whole ``judgerl run`` (CartPole, PPO, the chat judge asking the
fake OpenAI-compatible server on 127.0.0.1, which answers after a fixed latency):

- ``online`` / ``blocking``: no fault, for comparison;
- ``online+outage`` / ``blocking+outage``: the server goes down ``--down-at`` seconds
  after its first request and comes back ``--down-for`` seconds later on the same
  port. Down means the listening socket *and* every open connection are closed
  (connection refused; answers being prepared are never delivered), not a 503;
- ``online+worker-killed``: the online judge worker dies (``WorkerKilled``, a
  ``BaseException``) right after its ``--die-at`` labels, mid-batch with other
  requests in flight (``judgerl.testing.fault_judges.DyingJudge``);
- ``online+kill-9``: ``judgerl run`` in a subprocess SIGKILLed after its
  ``--kill-at``-th committed label (``JUDGERL_KILL_AT=label@n``), then resumed.

Columns: agent env steps/s (env steps trained / time in the loop's stages, so a
blocking run's wait for the judge counts against it), labels stored (the run's
queries with a definitive label), labels failed (definitive failures), transient
rows (audit only, re-asked), unresolved (registered, no definitive label at the
end), requests received / answered (delivered 200s) by the server, distinct
prompts answered, prompts answered twice (paid twice), labels lost (prompts
answered with no stored label), seconds from the server's return to its next
delivered answer, and whether training finished its budget.

Usage: python benchmarks/faults.py [--steps 262144] [--labels 200] [--latency 0.2] [--down-at 5 --down-for 30]
       [--scenarios ...] [--out benchmarks/results/online/faults]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from judgerl.config import JudgeConfig, load_config
from judgerl.judges.factory import register_judge_type
from judgerl.judges.llm import build_chat_judge
from judgerl.loop import run
from judgerl.testing.fake_openai import FakeOpenAIServer, answered_prompts
from judgerl.testing.fault_judges import DyingJudge
from judgerl.types import TaskSpec

STAGES = ("collect", "query", "judge", "fit", "train")
SCENARIOS = (
    "online",
    "online+outage",
    "blocking",
    "blocking+outage",
    "online+worker-killed",
    "online+kill-9",
)


def stored_labels(run_dir: Path) -> set[tuple[str, str]]:
    """``(query_key, status)`` of the definitive label rows in a run's store."""
    with sqlite3.connect(run_dir / "labels.sqlite") as con:
        return set(con.execute("SELECT query_key, status FROM labels WHERE transient = 0").fetchall())


def settings(args: argparse.Namespace, root: Path, name: str, mode: str, base_url: str, judge: str) -> list[str]:
    """``--set`` values of one scenario's run."""
    return [
        f"runs_dir={root}",
        f"name={name}",
        "task.id=cartpole/balance-v0",
        "query.kind=pairwise",
        f"judge.type={judge}",
        "judge.client.model=fake",
        "judge.client.api_key_env=",
        "judge.client.logprobs=false",
        # state readings, not CartPole's coarse captions: distinct queries then never render the same prompt,
        # so a prompt the server answered twice is a query paid twice (with captions ~8% of prompts repeat)
        "judge.show=state",
        f"judge.client.concurrency={args.concurrency}",
        f"labels.in_flight_lost={args.in_flight_lost}",
        f"judge.client.base_url={base_url}",
        f"labels.mode={mode}",
        "iterations=4",
        "collect_steps=500",
        f"labels.total={args.labels}",
        f"agent.total_timesteps={args.steps}",
        "env.n_envs=4",
        "reward.epochs=20",
        "eval.episodes=5",
        "eval.fresh_agent=false",
        "eval.per_iteration=false",
        f"labels.online_batch={args.concurrency}",
        "labels.online_queries_per_rollout=1",
        "labels.online_refit_every=25",
    ]


def one_scenario(scenario: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Run one scenario; returns its row of the table."""
    mode = "blocking" if scenario.startswith("blocking") else "online"
    judge = "faults-dying-openai" if scenario == "online+worker-killed" else "openai"
    name = scenario.replace("+", "-")
    with FakeOpenAIServer(latency_s=args.latency) as srv:
        sets = settings(args, root, name, mode, srv.base_url, judge)
        if scenario.endswith("+outage"):
            srv.outage(args.down_at, args.down_for, after_first_request=True)
        t0 = time.perf_counter()
        if scenario == "online+kill-9":
            env = {k: v for k, v in os.environ.items() if k not in ("JUDGERL_KILL_AT", "JUDGERL_DISK_FULL_AT")}
            cmd = [sys.executable, "-m", "judgerl.cli", "run", "--force", "--set", *sets]
            killed = subprocess.run(
                cmd, capture_output=True, text=True, env={**env, "JUDGERL_KILL_AT": f"label@{args.kill_at}"}
            )
            if killed.returncode != -9:
                raise RuntimeError(f"the run was not killed (rc {killed.returncode}): {killed.stderr[-2000:]}")
            before = stored_labels(root / name)
            resumed = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if resumed.returncode != 0:
                raise RuntimeError(f"the resumed run failed: {resumed.stderr[-2000:]}")
            run_dir = root / name
        else:
            before = None
            run_dir = run(load_config(None, sets))
        wall = time.perf_counter() - t0
        records, outages = list(srv.records), list(srv.outages)
    ev = json.loads((run_dir / "eval.json").read_text())
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    last = [r for r in (json.loads(x) for x in lines) if r["stage"] == "iteration"][-1]
    busy = sum(float(ev.get(f"time/{s}_s", 0.0)) for s in STAGES)
    answered = answered_prompts(records)
    stored = ev.get("labels/queries", 0.0) - ev.get("labels/unresolved", 0.0)
    resumed_after = None
    if outages and outages[0][1] is not None:
        after = [r.t for r in records if r.delivered and r.t > outages[0][1]]
        resumed_after = round(min(after) - outages[0][1], 2) if after else None
    return {
        "scenario": scenario,
        "env_steps": ev["budget/env_steps_train"],
        "steps_per_s": round(ev["budget/env_steps_train"] / busy, 1),
        "run_wall_s": round(wall, 1),
        "judge_s": round(float(ev.get("time/judge_s", 0.0)), 1),
        "labels_stored": stored,
        "labels_ok": ev.get("labels/ok", 0.0),
        "labels_failed": ev.get("labels/failed", 0.0) - ev.get("labels/transient", 0.0),
        "transient_rows": ev.get("labels/transient", 0.0),
        "unresolved": ev.get("labels/unresolved", 0.0),
        "requests_received": len(records),
        "requests_answered": sum(r.delivered for r in records),
        "prompts_answered": len(answered),
        "prompts_answered_twice": sum(n > 1 for n in answered.values()),
        # computed by the server (billed), delivered or not: a request in the air at a death counts here
        "prompts_paid_twice": sum(n > 1 for n in Counter(r.text for r in records if r.outcome == "ok").values()),
        "lost_in_flight": last.get("judge/lost_in_flight"),
        # kill -9: labels stored before the kill and gone after the resume; otherwise answers delivered with no
        # label stored (a query whose answer was lost in the air has a failed label, not counted as stored here)
        "labels_lost": len(before - stored_labels(run_dir))
        if before is not None
        else len(answered) - (stored - (last.get("judge/lost_in_flight") or 0.0)),
        "resumed_after_up_s": resumed_after,
        "worker_deaths": last.get("labels/worker_deaths"),
        "worker_restarts": last.get("labels/worker_restarts"),
        "online_transient": last.get("labels/online_transient"),
        "dropped": last.get("labels/dropped"),
        "finished": ev["budget/env_steps_train"] >= args.steps,
        "return_mean": ev["eval/return_mean"],
        "loadavg_1m": round(os.getloadavg()[0], 1),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the rows."""
    cols = [
        ("scenario", "scenario"),
        ("steps/s", "steps_per_s"),
        ("judge s", "judge_s"),
        ("stored", "labels_stored"),
        ("failed", "labels_failed"),
        ("transient rows", "transient_rows"),
        ("unresolved", "unresolved"),
        ("requests recv.", "requests_received"),
        ("answered", "requests_answered"),
        ("distinct prompts", "prompts_answered"),
        ("answered twice", "prompts_answered_twice"),
        ("paid twice", "prompts_paid_twice"),
        ("lost in flight", "lost_in_flight"),
        ("lost", "labels_lost"),
        ("resumed after up (s)", "resumed_after_up_s"),
        ("deaths/restarts", "deaths"),
        ("finished", "finished"),
        ("load", "loadavg_1m"),
    ]
    out = ["| " + " | ".join(h for h, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for _, key in cols:
            v = r.get(key)
            if key == "deaths":
                v = None if r["worker_deaths"] is None else f"{r['worker_deaths']:.0f}/{r['worker_restarts']:.0f}"
            elif isinstance(v, float) and key not in ("steps_per_s", "judge_s", "loadavg_1m", "resumed_after_up_s"):
                v = f"{v:.0f}"  # counts
            cells.append("" if v is None else str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    """Run the scenarios, print the table, write ``OUT.json`` and ``OUT.md``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--steps", type=int, default=262144, help="agent env steps per run (long enough to outlast the outage)"
    )
    ap.add_argument("--labels", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=2, help="requests in flight = queries per judge call")
    ap.add_argument("--down-at", type=float, default=5.0, help="seconds after the server's first request")
    ap.add_argument("--down-for", type=float, default=30.0)
    ap.add_argument("--die-at", type=int, nargs="+", default=[40, 120], help="labels after which the worker dies")
    ap.add_argument("--kill-at", type=int, default=60, help="committed label at which kill -9 hits")
    ap.add_argument(
        "--in-flight-lost", choices=("skip", "reask"), default="skip", help="labels.in_flight_lost (decision 0040)"
    )
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    ap.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.md")
    args = ap.parse_args()

    def dying(cfg: JudgeConfig, task: TaskSpec, seed: int) -> DyingJudge:
        return DyingJudge(build_chat_judge(cfg, task, seed), die_at=args.die_at)

    register_judge_type("faults-dying-openai", dying, replace=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in args.scenarios:
            row = one_scenario(scenario, args, Path(tmp))
            rows.append(row)
            print(json.dumps(row), flush=True)
    md = table(rows)
    print("\n" + md)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: v for k, v in vars(args).items() if k != "out"}
        args.out.with_suffix(".json").write_text(json.dumps({"settings": meta, "rows": rows}, indent=2))
        head = f"`python benchmarks/faults.py {' '.join(sys.argv[1:])}`\n\nSettings: {json.dumps(meta)}\n\n"
        args.out.with_suffix(".md").write_text(head + md + "\n")


if __name__ == "__main__":
    main()
