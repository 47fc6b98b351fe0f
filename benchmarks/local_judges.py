# mypy: disable-error-code="call-arg"
"""Throughput (and a quick quality check) of the local judges on this machine.

Judges: the embedding judge (packaged MiniLM on pendulum captions), the GGUF
yes/no judge (packaged SmolLM2-135M, when llama-cpp-python is installed) and
ClipJudge on a tiny random CLIP (overhead only: its scores mean nothing).
Pendulum segments are synthetic: each holds one random angle with small noise,
so the ground truth is known (``pendulum_verdict``, ``|angle|``).

Usage: ``.venv/bin/python benchmarks/local_judges.py [--segments 40] [--gguf-segments 16]``.
Prints one JSON object; ``load_before``/``load_after`` are ``os.getloadavg()``
(the machine is shared, so throughput depends on the load).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import string
import tempfile
import time
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from judgerl.config import GGUFConfig, ZeroShotConfig
from judgerl.tasks.classic import PENDULUM, pendulum_angle, pendulum_verdict
from judgerl.types import Query, Segment


def pendulum_segments(n: int, length: int, seed: int) -> list[Segment]:
    rng = np.random.default_rng(seed)
    segs = []
    for _ in range(n):
        theta = rng.uniform(-np.pi, np.pi) + rng.normal(0, 0.05, size=length)
        speed = rng.normal(0, 1.0) + rng.normal(0, 0.1, size=length)
        obs = np.stack([np.cos(theta), np.sin(theta), speed], axis=1).astype(np.float32)
        z = np.zeros(length, np.float32)
        caps = tuple(PENDULUM.captioner(o) for o in obs)
        segs.append(Segment(obs=obs, acts=np.zeros((length, 1), np.float32), env_rewards=z, dones=z, captions=caps))
    return segs


def auc(scores: np.ndarray, truth: np.ndarray) -> float:
    pos, neg = scores[truth], scores[~truth]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    return float(np.mean(pos[:, None] > neg[None, :]) + 0.5 * np.mean(pos[:, None] == neg[None, :]))


def bench_embedding(segs: list[Segment]) -> dict[str, Any]:
    from judgerl.judges.zero_shot import EmbeddingJudge

    judge = EmbeddingJudge(ZeroShotConfig(), PENDULUM)
    t0 = time.perf_counter()
    judge.score_captions(["warm up"])
    load_s = time.perf_counter() - t0
    captions = [c for s in segs for c in s.captions]
    t0 = time.perf_counter()
    scores = judge.score_captions(captions)
    dt_caps = time.perf_counter() - t0
    judge2 = EmbeddingJudge(ZeroShotConfig(), PENDULUM, encoder=judge.encoder)  # no caption memo between runs
    t0 = time.perf_counter()
    labels = judge2.judge(PENDULUM, [Query("pointwise", (s,)) for s in segs])
    dt = time.perf_counter() - t0
    uniq = len(set(captions))
    words = ["upright", "hanging", "left", "right", "still", "fast", "slow", "swinging", "spinning", "low", "high"]
    rng = np.random.default_rng(0)
    distinct = [f"the pendulum is {' and '.join(rng.choice(words, 3))} number {i}" for i in range(512)]
    t0 = time.perf_counter()
    judge.encoder.encode_texts(distinct)
    sentences_per_s = len(distinct) / (time.perf_counter() - t0)
    angles = np.abs(np.concatenate([pendulum_angle(s.obs) for s in segs]))
    values = np.array([lab.value for lab in labels], dtype=float)
    truth = np.array([pendulum_verdict(s) for s in segs])
    return {
        "load_s": round(load_s, 2),
        "captions": len(captions),
        "unique_captions": uniq,
        "unique_captions_per_s": round(uniq / dt_caps, 1),
        "sentences_per_s_batched": round(sentences_per_s, 1),
        "judgments_per_s": round(len(segs) / dt, 2),
        "spearman_score_vs_abs_angle": round(float(spearmanr(scores, angles).statistic), 3),
        "auc_vs_verdict": round(auc(values, truth), 3),
    }


def bench_gguf(segs: list[Segment]) -> dict[str, Any]:
    if importlib.util.find_spec("llama_cpp") is None:
        return {"skipped": "llama-cpp-python not installed (scripts/build_llama_wheel.sh)"}
    from judgerl.judges.gguf import GGUFJudge, default_threads

    out: dict[str, Any] = {}
    for reuse in (True, False):
        judge = GGUFJudge(GGUFConfig(reuse_prefix=reuse), PENDULUM, calibration="median")
        t0 = time.perf_counter()
        judge._load()
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        labels = judge.judge(PENDULUM, [Query("pointwise", (s,)) for s in segs])
        dt = time.perf_counter() - t0
        key = "reuse_prefix" if reuse else "no_reuse"
        out[key] = {
            "load_s": round(load_s, 2),
            "judgments_per_s": round(len(segs) / dt, 2),
            "prompt_tokens_mean": round(judge.counts["prompt_tokens"] / len(segs), 1),
            **{k.removeprefix("judge/"): v for k, v in judge.metrics().items() if "gguf" in k},
        }
        if reuse:
            values = np.array([lab.value for lab in labels], dtype=float)
            truth = np.array([pendulum_verdict(s) for s in segs])
            out["auc_vs_verdict"] = round(auc(values, truth), 3)
            out["threads"] = judge.cfg.n_threads or default_threads()
    return out


def bench_clip(n_frames: int) -> dict[str, Any]:
    if importlib.util.find_spec("transformers") is None:
        return {"skipped": "transformers not installed"}
    import torch
    import transformers

    from judgerl.judges.zero_shot import ClipJudge

    vocab = {c + s: 0 for s in ("", "</w>") for c in string.ascii_lowercase}
    vocab = {k: i for i, k in enumerate([*vocab, "<|startoftext|>", "<|endoftext|>"])}
    eos = vocab["<|endoftext|>"]
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    cfg = transformers.CLIPConfig(
        text_config={**small, "vocab_size": len(vocab), "max_position_embeddings": 64, "eos_token_id": eos,
                     "bos_token_id": vocab["<|startoftext|>"], "pad_token_id": eos},
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )  # fmt: skip
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        transformers.CLIPModel(cfg).save_pretrained(d)
        transformers.CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(d)
        judge = ClipJudge(ZeroShotConfig(model=d), PENDULUM)
        frames = np.random.default_rng(0).integers(0, 256, size=(n_frames, 240, 320, 3), dtype=np.uint8)
        judge.score_frames(frames[:2])
        t0 = time.perf_counter()
        judge.score_frames(frames)
        dt = time.perf_counter() - t0
    return {"frames": n_frames, "frames_per_s": round(n_frames / dt, 1), "note": "tiny random model: overhead only"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=40, help="pendulum segments for the embedding judge")
    ap.add_argument("--gguf-segments", type=int, default=16, help="pendulum segments for the GGUF judge")
    ap.add_argument("--length", type=int, default=25, help="steps per segment")
    ap.add_argument("--clip-frames", type=int, default=64, help="320x240 frames for CLIP preprocessing+encoding")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    result: dict[str, Any] = {"load_before": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count()}
    result["embedding"] = bench_embedding(pendulum_segments(args.segments, args.length, seed=0))
    result["gguf"] = bench_gguf(pendulum_segments(args.gguf_segments, args.length, seed=1))
    result["clip_tiny"] = bench_clip(args.clip_frames)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
