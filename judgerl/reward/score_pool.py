"""Zero-shot scoring spread over a pool of Ray actors (``judge.zero_shot.actors``, decision 0037).

A zero-shot reward (CLIP on rendered frames, the embedding model on captions)
encodes every unseen frame of a rollout; on a CPU that is the run's bottleneck
(``benchmarks/results/README.md``: ~4 frames/s for a ViT-B/32-sized CLIP on one
thread). With ``judge.zero_shot.actors: N`` the encoding runs in N Ray actors,
each holding its own copy of the model (on a GPU of the cluster with
``judge.zero_shot.actor_gpus``). A batch of unseen items is cut into N contiguous
chunks, scored at once, and joined back in order.

What stays in the driver, and why: the reward model's cache and counters, the
env wrapper and the agent (the reward's contract does not change: only the call
that encodes moves), and the label store and budget (one writer, one ledger).
Ray is started on 127.0.0.1 unless ``judge.zero_shot.ray_address`` names a
cluster, the same way ``judgerl sweep`` does it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from judgerl.judges.config import JudgeConfig
from judgerl.types import TaskSpec


class _ScoreActor:
    """The body of one actor: a zero-shot judge of its own, loaded in the actor's process."""

    def __init__(self, judge_cfg: JudgeConfig, task: TaskSpec, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self._score: Callable[[Any], np.ndarray]
        if judge_cfg.type == "clip":
            from judgerl.judges.zero_shot import build_clip_judge

            self._score = build_clip_judge(judge_cfg, task, 0).score_frames
        else:
            from judgerl.judges.zero_shot import build_embedding_judge

            self._score = build_embedding_judge(judge_cfg, task, 0).score_captions

    def score(self, items: Any) -> np.ndarray:
        """Scores ``(n,)`` float32 of a chunk of frames ``(n, H, W, 3)`` or a list of ``n`` captions."""
        return np.asarray(self._score(items), dtype=np.float32)

    def pid(self) -> int:
        """The actor's process id (tests check that scoring left the driver)."""
        return os.getpid()


class ActorPoolScorer:
    """``score_frames`` / ``score_captions`` of a zero-shot judge, computed by a pool of Ray actors.

    Args:
        judge_cfg: The run's judge config (``type`` clip or embedding; ``zero_shot`` for the model).
        task: The task (goal and baseline texts); sent to each actor.
        actors: Number of actors, at least 1.
        address: ``None`` = start a local Ray on 127.0.0.1 (or use the one this process is already
            connected to, e.g. inside a ``judgerl sweep`` run); ``auto`` or ``host:port`` = a cluster.
        gpus: GPUs each actor asks Ray for (fractions share a GPU); 0 = CPU actors.
        threads: torch threads in each actor.
        ready_timeout_s: How long to wait for every actor to be placed and to load its model.

    Raises:
        ConfigError: Ray is not installed (naming the extra to install).
        RuntimeError: Ray could not place every actor within ``ready_timeout_s`` (the message names the
            resources it has free), or an actor failed to build its judge.
    """

    def __init__(
        self,
        judge_cfg: JudgeConfig,
        task: TaskSpec,
        actors: int,
        address: str | None = None,
        gpus: float = 0.0,
        threads: int = 1,
        ready_timeout_s: float = 300.0,
    ) -> None:
        from judgerl.sweep.backends import start_ray

        if actors < 1:
            raise ValueError(f"actors must be at least 1, got {actors}")
        # A local Ray gets a CPU per actor at least, so the pool never waits for CPUs it cannot have.
        cpus = max(os.cpu_count() or 1, actors) if address is None else None
        self._ray, self._started = start_ray(address, cpus)
        remote = self._ray.remote(num_cpus=1, num_gpus=gpus)(_ScoreActor)
        self._actors = [remote.remote(judge_cfg, task, threads) for _ in range(actors)]
        self.calls = 0
        self._wait_placed(ready_timeout_s, gpus)

    def _wait_placed(self, timeout_s: float, gpus: float) -> None:
        """Wait until every actor has loaded its model; a clear error instead of a silent hang.

        An actor Ray cannot place (every CPU held by other work, e.g. the runs of a sweep on a
        cluster sized for the runs alone, or no GPU) would otherwise wait forever.
        """
        pending = [a.pid.remote() for a in self._actors]
        ready, waiting = self._ray.wait(pending, num_returns=len(pending), timeout=timeout_s)
        if waiting:
            free = self._ray.available_resources()
            self.close()
            raise RuntimeError(
                f"judge.zero_shot.actors: {len(waiting)} of {len(pending)} scoring actors did not start within "
                f"{timeout_s:g} s; each needs 1 CPU and {gpus} GPU(s), and Ray has "
                f"{free.get('CPU', 0):g} CPU(s) and {free.get('GPU', 0):g} GPU(s) free. Give Ray more (a sweep: "
                f"--num-cpus for runs x (1 + actors)), or lower judge.zero_shot.actors / actor_gpus"
            )
        self._ray.get(ready)  # raises here if an actor failed to build its judge

    @property
    def size(self) -> int:
        """Number of actors."""
        return len(self._actors)

    def pids(self) -> list[int]:
        """Each actor's process id."""
        return list(self._ray.get([a.pid.remote() for a in self._actors]))

    def _score(self, items: Sequence[Any] | np.ndarray) -> np.ndarray:
        n = len(items)
        if n == 0:
            return np.zeros(0, np.float32)
        self.calls += 1
        k = min(self.size, n)  # fewer items than actors: one item each, the rest idle
        bounds = np.linspace(0, n, k + 1).round().astype(int)
        chunks = zip(self._actors[:k], bounds[:-1], bounds[1:], strict=True)
        futures = [a.score.remote(items[lo:hi]) for a, lo, hi in chunks]
        return np.concatenate(self._ray.get(futures)).astype(np.float32)

    def score_frames(self, frames: np.ndarray) -> np.ndarray:
        """Scores ``(N,)`` float32 of RGB frames ``(N, H, W, 3)`` uint8, in order."""
        return self._score(np.asarray(frames))

    def score_captions(self, captions: Sequence[str]) -> np.ndarray:
        """Scores ``(N,)`` float32 of captions, in order."""
        return self._score(list(captions))

    def close(self) -> None:
        """Stop the actors, and the local Ray if this pool started it."""
        for a in self._actors:
            self._ray.kill(a)
        self._actors = []
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
