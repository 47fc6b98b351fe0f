"""Wall-clock to a normalised score of 0.9 on Pendulum, online vs blocking labelling (issue 14, item 1).

Each cell is a whole run of the loop in this process: Pendulum swing-up, SAC,
the budget of ``configs/pendulum_oracle.yaml`` (4 iterations, 1000 collection
steps per blocking iteration, 200 labels, 8000 training steps, 20 final
evaluation episodes; no fresh agent and no true-reward baseline, which add the
same time to both modes), pairwise labels from the ``openai`` chat judge asking
the fake OpenAI-compatible server. The server answers with
``caption_height_responder`` (judgerl/testing/caption_responder.py): it reads
the step captions of both segments from the prompt and prefers the segment
whose pendulum is higher, ``tie`` on equal heights (``judge.allow_ties``) -- a
stand-in for an LLM that reads captions, not an LLM. Every request takes
``latency`` seconds and the server serves ``concurrency`` requests at once (the
client's ``judge.client.concurrency`` is the same number): concurrency 1 is one
server slot, the case where a blocking agent waits longest. Online mode asks 10
queries per pair of finished episodes (``labels.online_queries_per_rollout``, so
the 40 training episodes could ask for all 200 labels) and sends
``max(4, concurrency)`` per judge call; its other settings are the defaults.

The learning curve (``eval.curve_every``) evaluates the policy on the true
reward every ``--curve-every`` training steps (``--curve-episodes`` greedy
episodes); its wall-clock counts from the start of the run. Scores are
normalised per seed with the true-reward agent's and the random policy's
returns of benchmarks/results/learning_v2/pendulum.json (the same final
evaluation seeds, 20000 + seed). Modes run interleaved (online s0, blocking s0,
online s1, ...) so load on a shared machine falls on both alike; the load
average is recorded with every run.

Usage: python benchmarks/online_curve.py [--latencies 2] [--concurrency 1] [--seeds 0 1 2]
       [--out-dir benchmarks/results/online] [--name curve]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from judgerl.config import load_config
from judgerl.evaluation.ground_truth import normalized_score
from judgerl.evaluation.logger import read_metrics
from judgerl.loop import run
from judgerl.testing.caption_responder import caption_height_responder
from judgerl.testing.fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parent
BASELINES = ROOT / "results" / "learning_v2" / "pendulum.json"
TARGET = 0.9


def baselines(seed: int) -> tuple[float, float]:
    """``(random return, true-reward return)`` of ``seed`` in the learning benchmark."""
    rows = [r for r in json.loads(BASELINES.read_text()) if r["seed"] == seed]
    return float(rows[0]["random"]), float(rows[0]["true_reward"])


def one_run(mode: str, seed: int, latency: float, conc: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """One run; returns its curve, time to the target, final score and labels."""
    rnd, expert = baselines(seed)
    with FakeOpenAIServer(latency_s=latency, responder=caption_height_responder, max_concurrency=conc) as srv:
        sets = [
            f"runs_dir={root}",
            f"name={mode}-{latency}-c{conc}-s{seed}",
            f"seed={seed}",
            "task.id=pendulum/swingup-v0",
            "agent.algo=SAC",
            "iterations=4",
            "collect_steps=1000",
            f"labels.total={args.labels}",
            f"labels.mode={mode}",
            f"labels.online_batch={max(4, conc)}",
            "labels.online_queries_per_rollout=10",
            f"agent.total_timesteps={args.steps}",
            "query.kind=pairwise",
            "judge.type=openai",
            "judge.client.model=fake",
            "judge.client.api_key_env=",
            "judge.client.logprobs=false",
            f"judge.client.concurrency={conc}",
            f"judge.client.base_url={srv.base_url}",
            "judge.allow_ties=true",
            f"eval.episodes={args.eval_episodes}",
            "eval.fresh_agent=false",
            "eval.true_reward_baseline=false",
            f"eval.curve_every={args.curve_every}",
            f"eval.curve_episodes={args.curve_episodes}",
            f"eval.curve_random_return={rnd}",
            f"eval.curve_expert_return={expert}",
        ]
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        run_dir = run(load_config(None, sets))
        wall = time.perf_counter() - t0
        requests = srv.stats["requests"]
    ev = json.loads((run_dir / "eval.json").read_text())
    curve = [r for r in read_metrics(run_dir) if r["stage"] == "curve"]
    hit = next((r for r in curve if r["eval/curve_normalized"] >= TARGET), None)
    return {
        "mode": mode,
        "seed": seed,
        "latency_s": latency,
        "concurrency": conc,
        "wall_to_target_s": None if hit is None else hit["eval/curve_wall_s"],
        "steps_to_target": None if hit is None else hit["eval/curve_env_steps"],
        "final_return": ev["eval/return_mean"],
        "final_return_std": ev["eval/return_std"],
        "final_normalized": normalized_score(ev["eval/return_mean"], rnd, expert),
        # One standard error of the final score (eval.episodes episodes): the noise a difference is read against.
        "final_normalized_se": ev["eval/return_std"] / (ev["eval/episodes"] ** 0.5) / (expert - rnd),
        "random_return_here": ev.get("eval/random/return_mean"),
        "labels_ok": ev.get("labels/ok", 0.0),
        "labels_used": ev.get("labels/used_for_reward", 0.0),
        "server_requests": requests,
        "total_wall_s": wall,
        "loadavg_before": list(load_before),
        "loadavg_after": list(os.getloadavg()),
        "curve": [
            {
                k.removeprefix("eval/curve_"): r[k]
                for k in ("eval/curve_env_steps", "eval/curve_wall_s", "eval/curve_normalized")
            }
            for r in curve
        ],
    }


def _fmt(x: float | None, spec: str) -> str:
    return "never" if x is None else format(x, spec)


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of every run, then the per-setting means and ratios."""
    head = (
        "| latency s | conc | seed | mode | wall to 0.9 (s) | steps to 0.9 | final norm. | labels ok "
        "| total wall (s) | load 1m before/after |"
    )
    out = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        out.append(
            f"| {r['latency_s']:g} | {r['concurrency']} | {r['seed']} | {r['mode']} "
            f"| {_fmt(r['wall_to_target_s'], '.0f')} "
            f"| {_fmt(r['steps_to_target'], '.0f')} | {r['final_normalized']:.3f} | {r['labels_ok']:.0f} "
            f"| {r['total_wall_s']:.0f} | {r['loadavg_before'][0]:.1f} / {r['loadavg_after'][0]:.1f} |"
        )
    out += [
        "",
        "| latency s | conc | seed | blocking / online wall to 0.9 | final norm. online − blocking (± 1 SE) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if r["mode"] != "online":
            continue
        b = next(
            (
                x
                for x in rows
                if x["mode"] == "blocking" and all(x[k] == r[k] for k in ("seed", "latency_s", "concurrency"))
            ),
            None,
        )
        if b is None:
            continue
        ratio = (
            None
            if r["wall_to_target_s"] is None or b["wall_to_target_s"] is None
            else b["wall_to_target_s"] / r["wall_to_target_s"]
        )
        se = ""
        if "final_normalized_se" in r and "final_normalized_se" in b:
            se = f" (± {(r['final_normalized_se'] ** 2 + b['final_normalized_se'] ** 2) ** 0.5:.3f})"
        out.append(
            f"| {r['latency_s']:g} | {r['concurrency']} | {r['seed']} | {_fmt(ratio, '.2f')} "
            f"| {r['final_normalized'] - b['final_normalized']:+.3f}{se} |"
        )
    out += [
        "",
        "| latency s | conc | seeds | mean wall to 0.9 online / blocking (s) | speed-up (mean of seeds) "
        "| mean final norm. online / blocking |",
        "|---|---|---|---|---|---|",
    ]
    for lat, conc in sorted({(r["latency_s"], r["concurrency"]) for r in rows}, key=lambda t: (-t[0], t[1])):
        cell = [r for r in rows if r["latency_s"] == lat and r["concurrency"] == conc]
        on = [r for r in cell if r["mode"] == "online"]
        bl = [r for r in cell if r["mode"] == "blocking" and r["seed"] in {o["seed"] for o in on}]
        on = [r for r in on if r["seed"] in {b["seed"] for b in bl}]
        if not on:
            continue
        pairs = [(o, next(b for b in bl if b["seed"] == o["seed"])) for o in on]
        hits = [(o, b) for o, b in pairs if o["wall_to_target_s"] and b["wall_to_target_s"]]
        speed = [b["wall_to_target_s"] / o["wall_to_target_s"] for o, b in hits]

        def mean(xs: list[float]) -> float | None:
            return sum(xs) / len(xs) if xs else None

        won = mean([o["wall_to_target_s"] for o, _ in hits])
        wbl = mean([b["wall_to_target_s"] for _, b in hits])
        fon = mean([o["final_normalized"] for o in on])
        fbl = mean([b["final_normalized"] for b in bl])
        out.append(
            f"| {lat:g} | {conc} | {len(on)} ({len(hits)} reached 0.9 in both) "
            f"| {_fmt(won, '.0f')} / {_fmt(wbl, '.0f')} "
            f"| {_fmt(mean(speed), '.2f')} | {_fmt(fon, '.3f')} / {_fmt(fbl, '.3f')} |"
        )
    return "\n".join(out) + "\n"


def write_outputs(out_dir: Path, name: str, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Write ``NAME.json`` (``meta`` and every run with its curve) and ``NAME.md`` (the command, the tables)."""
    (out_dir / f"{name}.json").write_text(json.dumps({**meta, "runs": rows}, indent=2))
    command = " ".join(["python benchmarks/online_curve.py", *meta.get("argv", [])])
    head = (
        f"# Wall-clock to a normalised score of 0.9, online vs blocking\n\n`{command}` "
        "(Pendulum, SAC, 8000 steps, 200 pairwise labels through the openai judge and the fake server's "
        "caption_height_responder; see the module docstring). Load averages: 1-minute, before and after each run.\n\n"
    )
    (out_dir / f"{name}.md").write_text(head + table(rows))


def main() -> None:
    """Run every (latency, concurrency, seed, mode) cell, interleaving the modes; write JSON and Markdown."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latencies", type=float, nargs="+", default=[2.0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--modes", nargs="+", default=["online", "blocking"])
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--labels", type=int, default=200)
    ap.add_argument("--eval-episodes", type=int, default=20)
    ap.add_argument("--curve-every", type=int, default=500)
    ap.add_argument("--curve-episodes", type=int, default=5)
    ap.add_argument("--out-dir", type=Path, default=ROOT / "results" / "online")
    ap.add_argument("--name", default="curve")
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for latency in args.latencies:
            for conc in args.concurrency:
                for seed in args.seeds:
                    for mode in args.modes:
                        row = one_run(mode, seed, latency, conc, args, Path(tmp))
                        rows.append(row)
                        print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
                        # Written after every run, so a long benchmark cut short keeps what it measured.
                        meta = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
                        write_outputs(args.out_dir, args.name, {"args": meta, "argv": sys.argv[1:]}, rows)
    print("\n" + table(rows))


if __name__ == "__main__":
    main()
