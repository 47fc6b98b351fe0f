"""A VecEnv wrapper that gives the agent a learned reward, mixed with the env's own.

The idea follows imitation's ``RewardVecEnvWrapper`` (HumanCompatibleAI): the
learned reward for every env comes from ONE batched call per step (or per
rollout, see deferred scoring), while the true reward stays measurable in
``info["env_reward"]`` (and SB3's ``Monitor`` below keeps the true episode
return in ``info["episode"]``). What the agent receives is
``a·r_env + b·g(r̂) + c·x`` (``judgerl.reward.mixing``; ``x`` the exploration
count the env puts in ``info``); ``a = 0, b = 1`` replaces the env reward.

Two kinds of reward model:

* a Markov ``RewardModel``: ``r̂ = predict(s, a) − offset`` on the observation
  before the step and the action taken;
* a ``SequenceRewardModel``: a ``RewardStream`` per env, fed the observation each
  step led to (SB3's ``terminal_observation`` at an episode's end) and restarted
  with the next episode's first observation;
* a ``FrameRewardModel``: ``r̂ = predict_frames(frame)`` of the rendered frame of
  the state each step reached, which the vector env puts into ``info["frame"]``
  (``make_vec_env(..., frame_size=model.frame_size)``; decision 0023). The
  wrapper takes the frames out of ``info`` (SB3 keeps no copy) and scores a
  whole rollout or collection chunk in one call when deferred.

Observations reach reward models as flat float32 rows (``judgerl.envs.spaces``),
so ``Dict`` and image observations work as long as the model reads rows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from judgerl.envs.factory import act_dim, flatten_actions
from judgerl.envs.frames import FRAME_KEY
from judgerl.envs.spaces import flatten_batch, flatten_one
from judgerl.reward.base import RewardStream
from judgerl.reward.config import MixConfig
from judgerl.reward.mixing import RewardMixer
from judgerl.types import EXPLORED_INFO_KEY

KeyFn = Callable[[np.ndarray], Hashable]
"""Maps one flat observation row to the key count decay counts (a caption, or the row's bytes)."""

Step = tuple[Any, ...]
"""One recorded vec-env step: arrays as described at ``LearnedRewardVecEnv._block`` (frames may be ``None``)."""


class LearnedRewardVecEnv(VecEnvWrapper):
    """Give the agent the mixed reward ``a·r_env + b·g(r̂)`` instead of the env's.

    Why the absorbing offset (Markov models): after termination an episode earns
    nothing, i.e. it sits in an absorbing state whose reward is implicitly 0. A
    learned reward is only defined up to a constant, and if it happens to be
    negative on every live CartPole state the agent learns to fall as fast as
    possible. Subtracting the model's own prediction for the absorbing state
    (all-zero obs and action, ``dones=1``, as the query segments pad it) makes
    "episode over" worth exactly what the model says about it relative to living.

    Info keys added: ``env_reward`` (the true reward of that step, float) on
    every step, and ``learned_episode = {"r": learned return, "l": length,
    "true_r": true return}`` when an env's episode ends. The learned return
    sums ``r̂`` (after the offset, before mixing), so it is comparable across
    the run. Every finished episode is also kept in :attr:`episodes`.

    Deferred scoring (:meth:`set_deferred`): an on-policy agent uses no reward
    before its rollout is complete, so the wrapper can record the steps and
    score them all in one batched call at the rollout's end (:meth:`flush`,
    driven by ``judgerl.agents.callbacks.RolloutRewardCallback``). On CartPole,
    whose env step costs ~18 µs, the per-step call was most of the wrapper's
    cost (decision 0011). While deferred, ``step`` returns zero rewards and no
    ``learned_episode`` info.

    Args:
        venv: The vector env (ideally from ``make_vec_env``, with ``Monitor``).
        reward_model: A ``RewardModel`` (``predict``) or ``SequenceRewardModel`` (``stream``).
        mixer: How ``r̂`` and the env reward become the agent's reward; default:
            ``r̂`` alone, untransformed.
        absorbing_offset: Subtract a Markov model's absorbing-state reward.
        key_fn: Key of a flat observation for count decay (required when the mixer decays counts).
    """

    def __init__(
        self,
        venv: VecEnv,
        reward_model: Any,
        mixer: RewardMixer | None = None,
        absorbing_offset: bool = True,
        key_fn: KeyFn | None = None,
    ):
        super().__init__(venv)
        n = self.num_envs
        self.mixer = mixer if mixer is not None else RewardMixer(MixConfig.model_validate({"normalize": "none"}), n)
        if self.mixer.needs_keys and key_fn is None:
            raise ValueError("reward.mix.count_decay needs a key function (captions or observations)")
        self.key_fn = key_fn
        self.absorbing_offset = absorbing_offset
        self.training = True
        self._act_size = act_dim(self.action_space)
        self._obs_size = int(flatten_one(self.observation_space, self.observation_space.sample()).size)
        self._zeros = np.zeros(n, dtype=np.float32)  # dones for live transitions
        self._prev: np.ndarray | None = None  # flat observations before the step, (N, O)
        self._actions: np.ndarray | None = None
        self._learned_ret = np.zeros(n, dtype=np.float64)
        self._true_ret = np.zeros(n, dtype=np.float64)
        self._len = np.zeros(n, dtype=np.int64)
        self.deferred = False
        # Steps recorded while deferred: obs before (N, O), actions (N, A), env rewards (N,), dones (N,),
        # the observation each step led to (N, O), the next episode's first observation (N, O), and for a
        # frame model the frames of the states reached (N, H, W, 3) uint8, else None; with the exploration term
        # the steps' exploration counts (N,), else None.
        self._block: list[Step] = []
        # Finished episodes, learned and true return (bounded: nobody may be reading them).
        self.episodes: deque[dict[str, float]] = deque(maxlen=10_000)
        self.reward_model: Any = None
        self._stream: RewardStream | None = None
        self._frames = False  # the model scores rendered frames (info["frame"]), not observation rows
        # Online labelling (decision 0027): an EpisodeRecorder that sees every step; None: nothing recorded.
        self.recorder: Any = None
        self._offset: float | None = None
        self.set_reward_model(reward_model)

    # -- the reward model -----------------------------------------------------------

    @property
    def sequential(self) -> bool:
        """Whether the reward model is history-dependent (a stream per env)."""
        return self._stream is not None

    @property
    def needs_frames(self) -> bool:
        """Whether the reward model scores rendered frames (``FrameRewardModel``) rather than observation rows."""
        return self._frames

    def set_reward_model(self, reward_model: Any) -> None:
        """Swap in a new reward model (e.g. after a re-fit); a stream restarts from the current observations."""
        kinds = ("predict", "stream", "predict_frames")
        if not any(callable(getattr(reward_model, k, None)) for k in kinds):
            raise TypeError(f"{type(reward_model).__name__} has none of predict(), stream(), predict_frames()")
        self.reward_model = reward_model
        self._frames = callable(getattr(reward_model, "predict_frames", None))
        self._offset = None
        self._stream = reward_model.stream(self.num_envs) if callable(getattr(reward_model, "stream", None)) else None
        if self._stream is not None and self._prev is not None:
            self._stream.start(self._prev, np.ones(self.num_envs, bool))

    @property
    def offset(self) -> float:
        """A Markov model's prediction for the absorbing state (0 when disabled, for a stream or a frame model).

        A frame model gets 0: there is no frame of "after the episode", and what it
        would be worth is not a picture's score (decision 0023).
        """
        if not self.absorbing_offset or self.sequential or self._frames:
            return 0.0
        if self._offset is None:
            obs = np.zeros((1, self._obs_size), dtype=np.float32)
            acts = np.zeros((1, self._act_size), dtype=np.float32)
            dones = np.ones(1, dtype=np.float32)
            self._offset = float(np.asarray(self.reward_model.predict(obs, acts, dones)).reshape(-1)[0])
        return self._offset

    def learned_for(self, obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        """``r̂`` (after the offset) of live transitions ``obs (M, O)``, ``acts (M, A)``; Markov models only."""
        if self.sequential:
            raise TypeError("a history-dependent reward cannot score single transitions")
        if self._frames:
            raise TypeError("a reward of rendered frames cannot score observation rows")
        m = len(obs)
        raw = self.reward_model.predict(
            np.asarray(obs, np.float32).reshape(m, -1), np.asarray(acts).reshape(m, -1), np.zeros(m, np.float32)
        )
        return np.asarray(raw, dtype=np.float32).reshape(m) - np.float32(self.offset)

    def reward_for(self, obs: np.ndarray, acts: np.ndarray, env_rewards: np.ndarray | None = None) -> np.ndarray:
        """The reward the agent would get now for transitions, without updating statistics (replay relabelling).

        Args:
            obs: Flat observations before the step, ``(M, O)``.
            acts: Actions ``(M, A)`` as the env takes them (not SB3's scaled ones).
            env_rewards: The env's rewards ``(M,)``; needed when ``mix.env_weight != 0``.

        Returns:
            Rewards ``(M,)`` float32 (count decay, which needs the episode, and the exploration term,
            which needs the env's info, are not applied; both are refused for off-policy agents).
        """
        learned = self.learned_for(obs, acts)[None]
        if env_rewards is None:
            if self.mixer.cfg.env_weight != 0.0:
                raise ValueError("reward_for needs the env rewards when reward.mix.env_weight is not 0")
            env_rewards = np.zeros(len(obs), np.float32)
        return self.mixer.mix(np.asarray(env_rewards, np.float32)[None], learned, update=False)[0]

    # -- VecEnv ---------------------------------------------------------------------

    def _flat(self, obs: Any) -> np.ndarray:
        return flatten_batch(self.observation_space, obs, self.num_envs)

    def reset(self) -> VecEnvObs:
        """Reset all envs, the per-env running returns, any unscored steps and the reward stream."""
        obs = self.venv.reset()
        self._prev = self._flat(obs)
        self._learned_ret[:] = 0.0
        self._true_ret[:] = 0.0
        self._len[:] = 0
        self._block.clear()
        self.mixer.forget_episodes()
        if self.recorder is not None:
            self.recorder.forget_unfinished()
        if self._stream is not None:
            self._stream.start(self._prev, np.ones(self.num_envs, bool))
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions (the reward needs them) and pass them on."""
        self._actions = np.asarray(actions)
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        """Step, then replace the rewards with the mixed ones (one batched reward call).

        While :attr:`deferred`, the step is only recorded and the returned rewards
        are zeros; :meth:`flush` scores the recorded steps later.
        """
        if self._prev is None or self._actions is None:
            raise RuntimeError("call reset() and step_async() before step_wait()")
        obs, env_rewards, dones, infos = self.venv.step_wait()
        n = self.num_envs
        for i, info in enumerate(infos):
            info["env_reward"] = float(env_rewards[i])
        acts = flatten_actions(self._actions, n)
        flat = self._flat(obs)
        after = flat
        if self.sequential and np.any(dones):
            # After an auto-reset, obs holds the next episode's first observation; the step led to the terminal one.
            after = flat.copy()
            for k in np.flatnonzero(dones).tolist():
                after[k] = flatten_one(self.observation_space, infos[k]["terminal_observation"])
        frames = self._take_frames(infos) if self._frames else None
        explored = self._explored(infos) if self.mixer.needs_explored else None
        step = (
            self._prev,
            acts.copy(),
            np.array(env_rewards, np.float64),
            np.array(dones, bool),
            after,
            flat,
            frames,
            explored,
        )
        if self.recorder is not None:
            self.recorder.record(self._prev, step[1], step[2], step[3], infos)
        self._prev = flat
        if self.deferred:
            # Copies: the caller may write into its arrays after the step (SB3 adds to the rewards).
            self._block.append(step)
            return obs, np.zeros(n, dtype=np.float32), dones, infos
        rewards = self._score([step], infos)
        return obs, rewards[0], dones, infos

    def _take_frames(self, infos: list[dict] | tuple[dict, ...]) -> np.ndarray:
        """The frames of the states the step reached, ``(N, H, W, 3)`` uint8, taken out of ``infos``."""
        try:
            return np.stack([info.pop(FRAME_KEY) for info in infos])
        except KeyError:
            raise RuntimeError(
                f"{type(self.reward_model).__name__} scores rendered frames, but the env put no info[{FRAME_KEY!r}]: "
                "build it with make_vec_env(..., frame_size=model.frame_size)"
            ) from None

    @staticmethod
    def _explored(infos: list[dict] | tuple[dict, ...]) -> np.ndarray:
        """The steps' exploration counts ``(N,)`` float32, read from ``infos``."""
        try:
            return np.array([info[EXPLORED_INFO_KEY] for info in infos], np.float32)
        except KeyError:
            raise RuntimeError(
                f"reward.mix.explore_weight pays for exploration, but the env put no info[{EXPLORED_INFO_KEY!r}]: "
                "only the envs of tasks with TaskSpec.explores (NetHack) report it; set explore_weight=0"
            ) from None

    def set_deferred(self, deferred: bool) -> None:
        """Switch between scoring every step (False) and recording steps for :meth:`flush` (True).

        Switching scores any steps still recorded (their rewards are dropped, the
        episode accounting keeps them), so no step goes unaccounted.
        """
        if self._block:
            self.flush()
        self.deferred = deferred

    def flush(self) -> np.ndarray:
        """Score every step recorded since the last flush (one batched predict call for a Markov model).

        Returns:
            Rewards, shape ``(T, N)`` float32 for ``T`` recorded steps of ``N`` envs, in step order.
        """
        if not self._block:
            return np.zeros((0, self.num_envs), dtype=np.float32)
        block, self._block = self._block, []
        return self._score(block, None)

    def _learned(self, block: list[Step]) -> np.ndarray:
        """``r̂`` of ``T`` recorded steps, shape ``(T, N)``."""
        t, n = len(block), self.num_envs
        if self._frames:
            frames = np.concatenate([b[6] for b in block])
            return np.asarray(self.reward_model.predict_frames(frames), dtype=np.float32).reshape(t, n)
        if self._stream is not None:
            out = np.empty((t, n), np.float32)
            for k, (_, _, _, dones, after, first, _, _) in enumerate(block):
                out[k] = self._stream.step(after, dones)
                if dones.any():
                    self._stream.start(first, dones)
            return out
        obs = np.concatenate([b[0] for b in block])
        acts = np.concatenate([b[1] for b in block])
        live = self._zeros if t == 1 else np.zeros(t * n, dtype=np.float32)
        learned = np.asarray(self.reward_model.predict(obs, acts, live), dtype=np.float32).reshape(t, n)
        if self.absorbing_offset:
            learned = learned - np.float32(self.offset)
        return learned

    def _score(self, block: list[Step], infos: list[dict] | None) -> np.ndarray:
        """Score, mix and account for ``T`` steps; with ``infos`` (the last step's) report finished episodes."""
        learned = self._learned(block)
        env_rewards = np.stack([b[2] for b in block])
        dones = np.stack([b[3] for b in block])
        keys = None
        if self.mixer.needs_keys:
            assert self.key_fn is not None
            keys = [[self.key_fn(row) for row in b[0]] for b in block]
        explored = np.stack([b[7] for b in block]) if self.mixer.needs_explored else None
        rewards = self.mixer.mix(env_rewards, learned, dones, keys, update=self.training, explored=explored)
        self._account(learned, env_rewards, dones, infos)
        return rewards

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
