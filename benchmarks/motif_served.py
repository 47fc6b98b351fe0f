"""Motif on NetHack with online labelling, judged by a GGUF model behind a real ``llama_cpp.server``.

The API user's path on ONI's setting: ``configs/nethack_motif_openai.yaml`` (the
OpenAI-compatible chat judge) pointed at a ``llama_cpp.server`` on 127.0.0.1 that
serves the packaged SmolLM2-135M GGUF (or ``--model PATH``), ``labels.mode=online``,
the Motif demo's agent budget. Extra ``KEY=VALUE`` arguments override the config
(e.g. ``judge.form=pointwise`` to score each message alone by its yes/no log-prob
margin, or ``judge.client.reuse_prompts=false``). Prints and writes one JSON row:
the online counters (labels, fragments, swaps), the judge's requests and prompt
reuses, labels/s, the label statuses and the evaluation.

Usage:
  python benchmarks/motif_served.py --out FILE.json [--seed 0] [--model PATH] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from judged_learning import llama_server  # noqa: E402

from judgerl.config import load_config  # noqa: E402
from judgerl.judges.embedded import packaged_smollm2_path  # noqa: E402
from judgerl.labels.store import LabelStore  # noqa: E402
from judgerl.loop import run  # noqa: E402

ONLINE_KEYS = ("labels/online", "labels/fragments", "reward/swaps", "reward/online_fits", "judge/prompt_reuses")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default=None, help="GGUF file to serve (default: the packaged SmolLM2-135M)")
    p.add_argument("--runs-dir", default="runs/motif_served")
    p.add_argument("sets", nargs="*", metavar="KEY=VALUE")
    args = p.parse_args()
    torch.set_num_threads(1)
    runs = Path(args.runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    with llama_server(args.model or packaged_smollm2_path(), runs / "server.log") as url:
        sets = [
            f"runs_dir={runs}",
            f"name=served-s{args.seed}-{int(time.time())}",
            f"seed={args.seed}",
            f"judge.client.base_url={url}",
            "judge.client.model=local",
            "judge.client.api_key_env=",
            "judge.client.concurrency=1",
            "judge.client.max_tokens=8",
            "judge.client.rpm=null",
            "judge.prompt=caption_pairs_short_v1",
            "judge.budget.max_cost_usd=null",
            "labels.total=300",
            "labels.mode=online",
            "agent.total_timesteps=61440",
            "eval.episodes=10",
            *args.sets,
        ]
        t0 = time.perf_counter()
        run_dir = run(load_config("configs/nethack_motif_openai.yaml", sets))
        wall = time.perf_counter() - t0
    ev = json.loads((run_dir / "eval.json").read_text())
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["stage"] == "iteration"][-1]
    with LabelStore(run_dir / "labels.sqlite") as store:
        stats = store.stats()
    row = {
        "seed": args.seed,
        "sets": args.sets,
        "wall_s": wall,
        "loadavg": os.getloadavg(),
        **{k: v for k, v in ev.items() if k.startswith(("eval/", "labels/", "judge/", "time/", "audit/"))},
        **{k: last.get(k) for k in (*ONLINE_KEYS, "judge/requests", "labels/per_s")},
        "store": stats,
    }
    args.out.write_text(json.dumps(row, indent=1))
    print(json.dumps({k: row.get(k) for k in (*ONLINE_KEYS, "judge/requests", "labels/per_s", "eval/score")}))


if __name__ == "__main__":
    main()
