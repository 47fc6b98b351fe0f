"""check-judge on nethack/score-v0 caption pairs with a GGUF served by a real llama_cpp.server (issue 13).

Produced ``check_judge_served_qwen05b_*.json`` (Qwen2.5-Coder-0.5B-Instruct, see benchmarks/results/README.md).
Run from the repository root:

  python benchmarks/results/motif/check_judge_served_qwen05b.py MODEL.gguf OUT.json PROMPT PROBES [KEY=VALUE ...]

PROMPT is ``caption_pairs_short_v1`` (one-word answer, 16 tokens) or ``caption_pairs_motif_v1`` (chain of
thought, 512 tokens); extra ``KEY=VALUE`` override the config (e.g. ``judge.both_orders=false name=other``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, "benchmarks")
from judged_learning import llama_server  # noqa: E402


def main() -> None:
    model, out, prompt, probes = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    max_tokens = "16" if "short" in prompt else "512"
    with llama_server(model, out.with_suffix(".server.log")) as base:
        t0 = time.time()
        sets = [
            f"judge.client.base_url={base}",
            "judge.client.model=qwen",
            "judge.client.api_key_env=",
            f"judge.prompt={prompt}",
            "judge.client.concurrency=1",
            f"judge.client.max_tokens={max_tokens}",
            *sys.argv[5:],
        ]
        cmd = [sys.executable, "-m", "judgerl.cli", "check-judge", "configs/nethack_motif_openai.yaml"]
        res = subprocess.run(
            [*cmd, "--probes", probes, "--json", str(out), "--set", *sets], capture_output=True, text=True
        )
        print(res.stdout[-3000:], res.stderr[-3000:])
        print("wall", time.time() - t0)


if __name__ == "__main__":
    main()
