"""Turn the training envs' steps into finished :class:`~judgerl.types.Episode` objects (online labelling).

The reward wrapper calls :meth:`EpisodeRecorder.record` with every vec-env step
it sees (flat observation before the step, the env's action, true reward, done,
infos); an env's steps become an ``Episode`` when it is done, shaped like
:func:`~judgerl.envs.collect.collect_episodes`'s: the terminal observation from
SB3's ``info["terminal_observation"]``, ``truncated`` from
``info["TimeLimit.truncated"]``, episode facts from ``info["episode_facts"]``,
and captions of every step (``task.captioner``) computed when the episode ends.

Episodes of long-horizon tasks (NetHack: thousands of steps) end too rarely to
feed a judge, so :meth:`EpisodeRecorder.take` can also cut an unfinished
episode's recorded steps into a *fragment*: an ``Episode`` with neither
``terminated`` nor ``truncated`` (an unfinished tail, as collection makes), whose
last recorded step stays behind as the start of the next piece. ONI labels the
messages of the agent's experience as they come in, not once per episode.
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
        self.count = 0  # episodes (and fragments) emitted so far (their ids)
        self.fragments = 0  # of which fragments of unfinished episodes
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
        final = info.get("terminal_observation")
        flat = flatten_one(self.space, final) if final is not None else None
        truncated = bool(info.get("TimeLimit.truncated", False))
        self._emit(i, len(self._obs[i]), flat, terminated=not truncated, truncated=truncated, info=info)
        self._obs[i], self._acts[i], self._rews[i] = [], [], []

    def _emit(
        self,
        i: int,
        n: int,
        final: np.ndarray | None,
        terminated: bool,
        truncated: bool,
        info: dict[str, Any] | None = None,
    ) -> None:
        """Append env ``i``'s first ``n`` recorded steps as an Episode.

        Args:
            i: The env.
            n: Steps to take from the start of its record.
            final: The flat observation after them (``None``: repeat the last one).
            terminated: The episode ended by termination.
            truncated: The time limit ended it.
            info: The last step's info (its ``episode_facts``).
        """
        obs = np.stack(self._obs[i][:n])
        final_obs = final if final is not None else obs[-1]
        caps = tuple(self.task.captioner(row) for row in obs) if self.captions else ()
        self.finished.append(
            Episode(
                obs=obs,
                acts=np.stack(self._acts[i][:n]),
                env_rewards=np.asarray(self._rews[i][:n], np.float32),
                terminated=terminated,
                final_obs=np.asarray(final_obs, np.float32).reshape(-1),
                captions=caps,
                episode_id=f"{self.prefix}-{self.count}",
                infos=dict((info or {}).get("episode_facts", {})),
                truncated=truncated,
                final_caption=self.task.captioner(final_obs) if self.captions else "",
            )
        )
        self.count += 1

    def cut_unfinished(self, min_steps: int) -> int:
        """Emit every unfinished episode with at least ``min_steps`` + 1 recorded steps as a fragment.

        The fragment holds all recorded steps but the last, whose observation is the
        fragment's ``final_obs``; that step stays recorded and starts the next piece,
        so no step is emitted twice and none is lost.

        Args:
            min_steps: Steps a fragment holds at least; ``0`` cuts nothing.

        Returns:
            Fragments emitted.
        """
        if min_steps <= 0:
            return 0
        cut = 0
        for i in range(len(self._obs)):
            n = len(self._obs[i]) - 1
            if n < min_steps:
                continue
            self._emit(i, n, self._obs[i][n], terminated=False, truncated=False)
            self._obs[i], self._acts[i], self._rews[i] = self._obs[i][n:], self._acts[i][n:], self._rews[i][n:]
            cut += 1
        self.fragments += cut
        return cut

    def forget_unfinished(self) -> None:
        """Drop the episodes in progress (the envs were reset)."""
        for i in range(len(self._obs)):
            self._obs[i], self._acts[i], self._rews[i] = [], [], []

    def take(self, fragment_steps: int = 0) -> list[Episode]:
        """The finished episodes (and, with ``fragment_steps``, fragments) not taken yet, oldest first.

        Args:
            fragment_steps: Cut unfinished episodes with more than this many recorded
                steps into fragments first (:meth:`cut_unfinished`); ``0``: finished episodes only.
        """
        self.cut_unfinished(fragment_steps)
        out = list(self.finished)
        self.finished.clear()
        return out
