"""SB3 callbacks: score on-policy rollouts in one batch, record returns, report training progress."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from judgerl.envs.reward_wrapper import LearnedRewardVecEnv


class RolloutRewardCallback(BaseCallback):
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

    def __init__(self, venv: LearnedRewardVecEnv) -> None:
        super().__init__(verbose=0)
        self.venv = venv

    def _on_training_start(self) -> None:
        if not isinstance(self.model, OnPolicyAlgorithm):
            raise TypeError(f"RolloutRewardCallback needs an on-policy agent, got {type(self.model).__name__}")
        self.venv.set_deferred(True)

    def _on_step(self) -> bool:
        return True

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

    def _on_training_end(self) -> None:
        self.venv.set_deferred(False)


def reward_callbacks(agent: BaseAlgorithm, venv: LearnedRewardVecEnv, per_rollout: bool) -> list[BaseCallback]:
    """The callbacks an agent on a learned reward needs: the rollout scorer for on-policy agents if asked."""
    return [RolloutRewardCallback(venv)] if per_rollout and isinstance(agent, OnPolicyAlgorithm) else []


class ReturnRecorder(BaseCallback):
    """Collects per-episode true returns (Monitor's ``info["episode"]``) and learned returns.

    The learned returns come from the reward wrapper's episode log, which
    also covers steps scored after the fact (deferred per-rollout scoring).

    Args:
        venv: The reward wrapper whose learned returns to report.
    """

    def __init__(self, venv: LearnedRewardVecEnv) -> None:
        super().__init__(verbose=0)
        self.venv = venv
        self.true_returns: list[float] = []
        self.lengths: list[int] = []

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            ep = info.get("episode")
            if ep is not None:
                self.true_returns.append(float(ep["r"]))
                self.lengths.append(int(ep["l"]))
        return True

    def summary(self, prefix: str = "agent") -> dict[str, float]:
        """Mean returns of the episodes finished since the last call, then reset.

        Returns:
            ``{prefix}/true_return``, ``{prefix}/learned_return``, ``{prefix}/episode_length``
            and ``{prefix}/episodes``; missing values are left out.
        """
        out: dict[str, float] = {f"{prefix}/episodes": float(len(self.true_returns))}
        if self.true_returns:
            out[f"{prefix}/true_return"] = float(np.mean(self.true_returns))
            out[f"{prefix}/episode_length"] = float(np.mean(self.lengths))
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
