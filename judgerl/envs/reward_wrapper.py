"""A VecEnv wrapper that replaces the environment reward with a learned one.

The idea follows imitation's ``RewardVecEnvWrapper`` (HumanCompatibleAI): the
reward for every env comes from ONE batched ``reward_model.predict`` call per
step on the observation before the step and the action taken, while the true
reward stays measurable in ``info["env_reward"]`` (and SB3's ``Monitor`` below
keeps the true episode return in ``info["episode"]``).
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from judgerl.envs.factory import act_dim, flatten_actions
from judgerl.reward.base import RewardModel


class RewardNormalizer(Protocol):
    """Rescales learned rewards; ``judgerl.envs.normalize.RunningRewardScale`` is one."""

    def update(self, rewards: np.ndarray) -> None:
        """Fold a batch of rewards, shape ``(N,)``, into the statistics."""
        ...

    def __call__(self, rewards: np.ndarray) -> np.ndarray:
        """Rescaled rewards, shape ``(N,)``."""
        ...


class LearnedRewardVecEnv(VecEnvWrapper):
    """Give the agent ``reward_model``'s reward instead of the env's.

    Per step and env ``i`` the agent receives
    ``normalizer(r_hat(s_i, a_i) - offset)`` where ``offset`` is the model's reward
    for the absorbing state (``absorbing_offset=True``) or 0.

    Why the offset: after termination an episode earns nothing, i.e. it sits in
    an absorbing state whose reward is implicitly 0. A learned reward is only
    defined up to a constant, and if it happens to be negative on every live
    CartPole state the agent learns to fall as fast as possible. Subtracting the
    model's own prediction for the absorbing state (all-zero obs and action,
    ``dones=1``, as the query segments pad it) makes "episode over" worth exactly
    what the model says about it relative to living.

    Info keys added: ``env_reward`` (the true reward of that step, float) on
    every step, and ``learned_episode = {"r": learned return, "l": length}``
    when an env's episode ends (plus ``"true_r"``, the true return, for
    envs without ``Monitor``). The learned return sums the rewards after the
    offset and before normalisation, so it is comparable across the run.
    Every finished episode is also kept in :attr:`episodes` (see :meth:`pop_episodes`).

    Deferred scoring (:meth:`set_deferred`): an on-policy agent uses no reward
    before its rollout is complete, so the wrapper can record the steps and
    score them all in one batched call at the rollout's end (:meth:`flush`,
    driven by ``judgerl.agents.callbacks.RolloutRewardCallback``). On CartPole,
    whose env step costs ~18 µs, the per-step call was most of the wrapper's
    cost (decision 0011). While deferred, ``step`` returns zero rewards and no
    ``learned_episode`` info.

    Args:
        venv: The vector env (ideally from ``make_vec_env``, with ``Monitor``).
        reward_model: Batched reward function of ``(obs (N, O), acts (N, A))``.
        normalizer: Optional object with ``update(rewards)`` and
            ``__call__(rewards) -> rewards`` (e.g. ``RunningRewardScale``),
            applied after the offset; it is updated only while ``training``.
        absorbing_offset: Subtract the model's absorbing-state reward.
    """

    def __init__(
        self,
        venv: VecEnv,
        reward_model: RewardModel,
        normalizer: RewardNormalizer | None = None,
        absorbing_offset: bool = True,
    ):
        super().__init__(venv)
        self.reward_model = reward_model
        self.normalizer = normalizer
        self.absorbing_offset = absorbing_offset
        self.training = True
        n = self.num_envs
        self._obs_size = int(np.prod(self.observation_space.shape or (1,)))
        self._act_size = act_dim(self.action_space)
        self._offset: float | None = None
        self._zeros = np.zeros(n, dtype=np.float32)  # dones for live transitions
        self._prev_obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None
        self._learned_ret = np.zeros(n, dtype=np.float64)
        self._true_ret = np.zeros(n, dtype=np.float64)
        self._len = np.zeros(n, dtype=np.int64)
        self.deferred = False
        # Steps recorded while deferred: (obs before (N, O), actions (N, A), env rewards (N,), dones (N,)).
        self._block: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        # Finished episodes, learned and true return (bounded: nobody may be reading them).
        self.episodes: deque[dict[str, float]] = deque(maxlen=10_000)

    def set_reward_model(self, reward_model: RewardModel) -> None:
        """Swap in a new reward model (e.g. after a re-fit); the offset is recomputed lazily."""
        self.reward_model = reward_model
        self._offset = None

    @property
    def offset(self) -> float:
        """The reward model's prediction for the absorbing state (0 when disabled)."""
        if not self.absorbing_offset:
            return 0.0
        if self._offset is None:
            obs = np.zeros((1, self._obs_size), dtype=np.float32)
            acts = np.zeros((1, self._act_size), dtype=np.float32)
            dones = np.ones(1, dtype=np.float32)
            self._offset = float(np.asarray(self.reward_model.predict(obs, acts, dones)).reshape(-1)[0])
        return self._offset

    def reward_for(self, obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        """The reward the agent would receive now for live transitions, without updating any statistics.

        Args:
            obs: Observations before the step, shape ``(N, O)``.
            acts: Actions, shape ``(N, A)``.

        Returns:
            Rewards ``(N,)`` float32, offset and normalisation applied (used to relabel replay buffers).
        """
        n = len(obs)
        learned = np.asarray(
            self.reward_model.predict(
                obs.reshape(n, -1).astype(np.float32, copy=False), acts.reshape(n, -1), np.zeros(n, dtype=np.float32)
            ),
            dtype=np.float32,
        ).reshape(n) - np.float32(self.offset)
        if self.normalizer is None:
            return learned
        return np.asarray(self.normalizer(learned), dtype=np.float32)

    def reset(self) -> VecEnvObs:
        """Reset all envs, the per-env running returns and any unscored steps."""
        obs = self.venv.reset()
        self._prev_obs = np.asarray(obs)
        self._learned_ret[:] = 0.0
        self._true_ret[:] = 0.0
        self._len[:] = 0
        self._block.clear()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions (the reward needs them) and pass them on."""
        self._actions = np.asarray(actions)
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        """Step, then replace the rewards with the learned ones (one batched predict call).

        While :attr:`deferred`, the step is only recorded and the returned rewards
        are zeros; :meth:`flush` scores the recorded steps later.
        """
        if self._prev_obs is None or self._actions is None:
            raise RuntimeError("call reset() and step_async() before step_wait()")
        obs, env_rewards, dones, infos = self.venv.step_wait()
        n = self.num_envs
        for i, info in enumerate(infos):
            info["env_reward"] = float(env_rewards[i])
        acts = flatten_actions(self._actions, n)
        if self.deferred:
            # Copies: the caller may write into its arrays after the step (SB3 adds to the rewards).
            self._block.append((self._prev_obs, acts.copy(), np.array(env_rewards, np.float64), np.array(dones, bool)))
            self._prev_obs = np.asarray(obs)
            return obs, np.zeros(n, dtype=np.float32), dones, infos
        rewards = self._score(self._prev_obs, acts, np.asarray(env_rewards)[None], np.asarray(dones)[None], infos)
        # After an auto-reset, obs already holds the next episode's first observation.
        self._prev_obs = np.asarray(obs)
        return obs, rewards[0], dones, infos

    def set_deferred(self, deferred: bool) -> None:
        """Switch between scoring every step (False) and recording steps for :meth:`flush` (True).

        Switching scores any steps still recorded (their rewards are dropped, the
        episode accounting keeps them), so no step goes unaccounted.
        """
        if self._block:
            self.flush()
        self.deferred = deferred

    def flush(self) -> np.ndarray:
        """Score every step recorded since the last flush in ONE batched predict call.

        The normaliser sees the rows in step order, each scaled as if it had been
        scored when it happened; finished episodes go to :attr:`episodes`.

        Returns:
            Rewards, shape ``(T, N)`` float32 for ``T`` recorded steps of ``N`` envs
            (offset and normalisation applied), in step order.
        """
        if not self._block:
            return np.zeros((0, self.num_envs), dtype=np.float32)
        obs = np.stack([b[0] for b in self._block])
        acts = np.concatenate([b[1] for b in self._block])
        env_rewards = np.stack([b[2] for b in self._block])
        dones = np.stack([b[3] for b in self._block])
        self._block.clear()
        return self._score(obs, acts, env_rewards, dones, None)

    def _score(
        self, obs: np.ndarray, acts: np.ndarray, env_rewards: np.ndarray, dones: np.ndarray, infos: list[dict] | None
    ) -> np.ndarray:
        """Score ``T`` steps of ``N`` envs in one predict call, then scale and account for them.

        Args:
            obs: Observations before each step, ``T * N`` rows (any shape that reshapes to ``(T * N, O)``).
            acts: Actions, ``(T * N, A)``, step-major.
            env_rewards: True rewards ``(T, N)``.
            dones: Episode ends ``(T, N)``.
            infos: The last step's infos (gets ``learned_episode``), or None.

        Returns:
            Rewards ``(T, N)`` float32 (offset and normalisation applied).
        """
        t, n = env_rewards.shape
        flat = obs.reshape(t * n, -1).astype(np.float32, copy=False)
        live = self._zeros if t == 1 else np.zeros(t * n, dtype=np.float32)
        learned = np.asarray(self.reward_model.predict(flat, acts, live), dtype=np.float32).reshape(t, n)
        if self.absorbing_offset:
            learned = learned - np.float32(self.offset)
        rewards = self._scale(learned)
        self._account(learned, env_rewards, dones, infos)
        return rewards

    def _scale(self, learned: np.ndarray) -> np.ndarray:
        """Apply the normaliser to rewards ``(T, N)``.

        While training, row ``t`` is folded into the statistics and then scaled
        with them, in step order: exactly what scoring each step as it happened
        would have given.
        """
        if self.normalizer is None:
            return learned
        if not self.training:
            return np.asarray(self.normalizer(learned), dtype=np.float32)
        out = np.empty_like(learned)
        for t, row in enumerate(learned):
            self.normalizer.update(row)
            out[t] = self.normalizer(row)
        return out

    def _account(
        self, learned: np.ndarray, env_rewards: np.ndarray, dones: np.ndarray, infos: list[dict] | None
    ) -> None:
        """Add ``(T, N)`` rewards to the running returns; log (and with ``infos``, report) finished episodes."""
        for t in range(len(learned)):
            self._learned_ret += learned[t]
            self._true_ret += env_rewards[t]
            self._len += 1
            for i in np.flatnonzero(dones[t]).tolist():
                episode = {"r": float(self._learned_ret[i]), "l": int(self._len[i]), "true_r": float(self._true_ret[i])}
                self.episodes.append(episode)
                if infos is not None:
                    infos[i]["learned_episode"] = episode
                self._learned_ret[i] = 0.0
                self._true_ret[i] = 0.0
                self._len[i] = 0

    def pop_episodes(self) -> list[dict[str, float]]:
        """The finished episodes logged since the last call (``r``, ``l``, ``true_r`` each), oldest first."""
        out = list(self.episodes)
        self.episodes.clear()
        return out
