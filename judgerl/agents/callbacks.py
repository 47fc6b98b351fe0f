"""SB3 callbacks: score on-policy rollouts (and frame rewards' off-policy chunks) in one batch, record returns,
report training progress."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from judgerl.envs.reward_wrapper import LearnedRewardVecEnv


class _DeferredRewardCallback(BaseCallback):
    """Switch the reward wrapper to deferred scoring for the agent kind ``needs`` while training runs."""

    needs: type[OnPolicyAlgorithm] | type[OffPolicyAlgorithm]  # set by each subclass

    def __init__(self, venv: LearnedRewardVecEnv) -> None:
        super().__init__(verbose=0)
        self.venv = venv

    def _on_training_start(self) -> None:
        if not isinstance(self.model, self.needs):
            kind = "an on-policy" if self.needs is OnPolicyAlgorithm else "an off-policy"
            raise TypeError(f"{type(self).__name__} needs {kind} agent, got {type(self.model).__name__}")
        self.venv.set_deferred(True)

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self.venv.set_deferred(False)


class RolloutRewardCallback(_DeferredRewardCallback):
    """Give an on-policy agent its learned rewards once per rollout, from one batched reward call.

    PPO reads no reward until its rollout buffer is full, so scoring each env step
    as it happens buys nothing but per-call overhead. While this callback is
    active the wrapper only records steps (and returns zero rewards); at the end
    of each rollout it scores them all at once, adds them to the buffer's rewards
    (which already hold SB3's time-limit bootstrap ``gamma * V(terminal)``, added
    to the zero placeholder) and recomputes returns and advantages with the
    last values SB3 computed.

    Args:
        venv: The reward wrapper the agent trains in (``model.get_env()``).
    """

    needs = OnPolicyAlgorithm

    def _on_rollout_end(self) -> None:
        assert isinstance(self.model, OnPolicyAlgorithm)
        buffer = self.model.rollout_buffer
        rewards = self.venv.flush()
        if rewards.shape != buffer.rewards.shape:
            raise RuntimeError(
                f"recorded steps {rewards.shape} do not match the rollout buffer {buffer.rewards.shape}: "
                "was the env stepped outside the agent's rollout?"
            )
        self._apply(buffer, rewards)

    def _apply(self, buffer: RolloutBuffer, rewards: np.ndarray) -> None:
        """Add the rewards ``(n_steps, n_envs)`` and recompute returns/advantages (GAE)."""
        buffer.rewards += rewards
        buffer.compute_returns_and_advantage(last_values=self.locals["values"], dones=self.locals["dones"])


class ChunkRewardCallback(_DeferredRewardCallback):
    """Give an off-policy agent a frame reward once per collection chunk, from one batched reward call.

    SB3's off-policy agents collect ``train_freq`` steps (``collect_rollouts``),
    then train. With a reward of rendered frames (CLIP), scoring each step as it
    happens would be one encoder call per env step; instead the wrapper records
    the chunk (the agent stores zero placeholders) and at the chunk's end, before
    any gradient step, this callback scores it in one call and writes the rewards
    into the replay buffer rows the chunk filled (VLM-RM's ``CLIPRewardedSAC``
    does the same once per ``train_freq`` steps). No training step ever samples a
    placeholder. Off-policy buffers store the env's reward as is (time limits are
    handled by the ``timeouts`` column, not in the reward), so the rows then hold
    exactly what per-step scoring would have stored.

    Args:
        venv: The reward wrapper the agent trains in (``model.get_env()``).
    """

    needs = OffPolicyAlgorithm

    def _on_rollout_end(self) -> None:
        self._write()

    def _write(self) -> None:
        """Score the recorded steps and write them into the replay buffer rows they filled."""
        assert isinstance(self.model, OffPolicyAlgorithm)
        buf = self.model.replay_buffer
        assert buf is not None
        rewards = self.venv.flush()
        t = len(rewards)
        if t == 0:
            return
        if t > buf.buffer_size or rewards.shape[1:] != buf.rewards.shape[1:]:
            raise RuntimeError(f"recorded steps {rewards.shape} do not fit the replay buffer {buf.rewards.shape}")
        rows = (buf.pos - t + np.arange(t)) % buf.buffer_size  # the rows this chunk filled, oldest first
        buf.rewards[rows] = rewards
        # Every chunk ends in on_rollout_end (collect_rollouts always completes train_freq steps) unless a
        # callback stopped training mid-chunk; then SB3 did not store the last recorded step, the rows cannot
        # be matched, and the recorded steps are dropped at training end (scored for the episode log only).


def reward_callbacks(agent: BaseAlgorithm, venv: LearnedRewardVecEnv, per_rollout: bool) -> list[BaseCallback]:
    """The callbacks an agent on a learned reward needs when ``per_rollout`` is set.

    On-policy agents get the rollout scorer; off-policy agents get the chunk scorer only for a reward of
    rendered frames (their other rewards stay per step, decision 0011; frames: decision 0023).
    """
    if not per_rollout:
        return []
    if isinstance(agent, OnPolicyAlgorithm):
        return [RolloutRewardCallback(venv)]
    if isinstance(agent, OffPolicyAlgorithm) and venv.needs_frames:
        return [ChunkRewardCallback(venv)]
    return []


class ReturnRecorder(BaseCallback):
    """Collects what training did: true returns (Monitor's ``info["episode"]``), learned returns, episode
    facts, and SB3's own training diagnostics.

    The learned returns come from the reward wrapper's episode log, which
    also covers steps scored after the fact (deferred per-rollout scoring).
    The facts are what the env reports in ``info["episode_facts"]`` on an
    episode's last step (NetHack's depth and gold, homegrid's cat harmed), so
    a user sees how often the training episodes, not only the evaluation
    games, reached them.

    The diagnostics are the ``train/...`` values each SB3 update records in the
    agent's logger (PPO: ``entropy_loss``, ``approx_kl``, ``clip_fraction``,
    ``value_loss``, ``explained_variance``...; SAC and DQN their losses). judgerl
    gives agents a logger that writes nothing (``judgerl.agents.sb3.quiet``), so
    they are read here, once per update: after each update SB3 collects the next
    rollout (``on_rollout_start``), and the last update is followed by the end of
    ``learn()``. ``train/n_updates`` tells a new update from one already read.

    Args:
        venv: The reward wrapper whose learned returns to report.
    """

    def __init__(self, venv: LearnedRewardVecEnv) -> None:
        super().__init__(verbose=0)
        self.venv = venv
        self.true_returns: list[float] = []
        self.lengths: list[int] = []
        self.facts: dict[str, list[float]] = {}
        self.train_stats: dict[str, list[float]] = {}
        self._last_update: object = None

    def _on_rollout_start(self) -> None:
        self._read_update()

    def _on_training_end(self) -> None:
        self._read_update()

    def _read_update(self) -> None:
        """Keep the ``train/...`` values of the agent's last update, unless they were read already."""
        values = self.model.logger.name_to_value
        update = values.get("train/n_updates")
        if update is None or update == self._last_update:
            return
        self._last_update = update
        for key, value in values.items():
            if key.startswith("train/") and key != "train/n_updates":
                self.train_stats.setdefault(key.removeprefix("train/"), []).append(float(value))

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            ep = info.get("episode")
            if ep is not None:
                self.true_returns.append(float(ep["r"]))
                self.lengths.append(int(ep["l"]))
                for key, value in dict(info.get("episode_facts", {})).items():
                    self.facts.setdefault(key, []).append(float(value))
        return True

    def summary(self, prefix: str = "agent") -> dict[str, float]:
        """Mean returns of the episodes finished since the last call, then reset.

        Returns:
            ``{prefix}/true_return``, ``{prefix}/learned_return``, ``{prefix}/episode_length``,
            ``{prefix}/episodes``, ``{prefix}/fact/<name>`` (mean of each episode fact over the
            episodes that reported it), and ``{prefix}/train/<name>`` (mean of each SB3 diagnostic over
            the updates since the last call) with ``{prefix}/train/updates`` (their count); missing values
            are left out.
        """
        out: dict[str, float] = {f"{prefix}/episodes": float(len(self.true_returns))}
        if self.true_returns:
            out[f"{prefix}/true_return"] = float(np.mean(self.true_returns))
            out[f"{prefix}/episode_length"] = float(np.mean(self.lengths))
        out.update({f"{prefix}/fact/{k}": float(np.mean(v)) for k, v in self.facts.items()})
        self.facts.clear()
        if self.train_stats:
            out[f"{prefix}/train/updates"] = float(max(len(v) for v in self.train_stats.values()))
            out.update({f"{prefix}/train/{k}": float(np.mean(v)) for k, v in self.train_stats.items()})
            self.train_stats.clear()
        learned = [ep["r"] for ep in self.venv.pop_episodes()]
        if learned:
            out[f"{prefix}/learned_return"] = float(np.mean(learned))
        self.true_returns.clear()
        self.lengths.clear()
        return out


class StepProgress(BaseCallback):
    """Reports ``model.num_timesteps`` after every vec-env step (e.g. to ``StepLedger.record``).

    Args:
        report: Called with the agent's total env steps so far.
    """

    def __init__(self, report: Callable[[int], None]) -> None:
        super().__init__(verbose=0)
        self.report = report

    def _on_step(self) -> bool:
        self.report(self.model.num_timesteps)
        return True
