"""Turn the training envs' steps into finished :class:`~judgerl.types.Episode` objects (online labelling).

The reward wrapper calls :meth:`EpisodeRecorder.record` with every vec-env step
it sees (flat observation before the step, the env's action, true reward, done,
infos); an env's steps become an ``Episode`` when it is done, shaped like
:func:`~judgerl.envs.collect.collect_episodes`'s: the terminal observation from
SB3's ``info["terminal_observation"]``, ``truncated`` from
``info["TimeLimit.truncated"]``, episode facts from ``info["episode_facts"]``,
and captions of every step (``task.captioner``) computed when the episode ends.
"""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
from gymnasium import spaces

from judgerl.envs.spaces import flatten_one
from judgerl.types import Episode, TaskSpec


class EpisodeRecorder:
    """Collects the steps of ``n_envs`` training envs into finished episodes.

    Args:
        task: The task (its captioner).
        observation_space: The envs' observation space (to flatten terminal observations).
        n_envs: Envs stepped side by side.
        keep: Finished episodes kept until taken (older ones are forgotten: the producer
            only wants recent behaviour).
        captions: Caption every step when an episode ends.
    """

    def __init__(
        self, task: TaskSpec, observation_space: spaces.Space, n_envs: int, keep: int = 64, captions: bool = True
    ) -> None:
        self.task = task
        self.space = observation_space
        self.captions = captions
        self._obs: list[list[np.ndarray]] = [[] for _ in range(n_envs)]
        self._acts: list[list[np.ndarray]] = [[] for _ in range(n_envs)]
        self._rews: list[list[float]] = [[] for _ in range(n_envs)]
        self.finished: collections.deque[Episode] = collections.deque(maxlen=keep)
        self.count = 0  # episodes finished so far (their ids)
        self.prefix = "online"

    def record(
        self,
        obs: np.ndarray,
        acts: np.ndarray,
        env_rewards: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]] | tuple[dict[str, Any], ...],
    ) -> None:
        """Add one vec-env step.

        Args:
            obs: Flat observations before the step, ``(N, O)``.
            acts: Flat actions the envs received, ``(N, A)``.
            env_rewards: True rewards ``(N,)``.
            dones: Episode ends ``(N,)`` bool.
            infos: The step's infos (``terminal_observation`` where done).
        """
        for i in range(len(obs)):
            self._obs[i].append(np.asarray(obs[i], np.float32))
            self._acts[i].append(np.asarray(acts[i], np.float32).reshape(-1))
            self._rews[i].append(float(env_rewards[i]))
            if dones[i]:
                self._finish(i, infos[i])

    def _finish(self, i: int, info: dict[str, Any]) -> None:
        obs = np.stack(self._obs[i])
        final = info.get("terminal_observation")
        final_obs = flatten_one(self.space, final) if final is not None else obs[-1]
        truncated = bool(info.get("TimeLimit.truncated", False))
        caps = tuple(self.task.captioner(row) for row in obs) if self.captions else ()
        self.finished.append(
            Episode(
                obs=obs,
                acts=np.stack(self._acts[i]),
                env_rewards=np.asarray(self._rews[i], np.float32),
                terminated=not truncated,
                final_obs=np.asarray(final_obs, np.float32).reshape(-1),
                captions=caps,
                episode_id=f"{self.prefix}-{self.count}",
                infos=dict(info.get("episode_facts", {})),
                truncated=truncated,
                final_caption=self.task.captioner(final_obs) if self.captions else "",
            )
        )
        self.count += 1
        self._obs[i], self._acts[i], self._rews[i] = [], [], []

    def forget_unfinished(self) -> None:
        """Drop the episodes in progress (the envs were reset)."""
        for i in range(len(self._obs)):
            self._obs[i], self._acts[i], self._rews[i] = [], [], []

    def take(self) -> list[Episode]:
        """The finished episodes not taken yet, oldest first."""
        out = list(self.finished)
        self.finished.clear()
        return out
