"""SB3 callbacks: record the true and the learned return of training episodes."""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback


class ReturnRecorder(BaseCallback):
    """Collects per-episode true returns (Monitor's ``info["episode"]``) and learned returns.

    The reward wrapper puts ``info["learned_episode"]`` beside Monitor's record,
    so the two can be compared episode by episode while the agent trains.
    """

    def __init__(self) -> None:
        super().__init__(verbose=0)
        self.true_returns: list[float] = []
        self.learned_returns: list[float] = []
        self.lengths: list[int] = []

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            ep = info.get("episode")
            if ep is not None:
                self.true_returns.append(float(ep["r"]))
                self.lengths.append(int(ep["l"]))
                learned = info.get("learned_episode")
                if learned is not None:
                    self.learned_returns.append(float(learned["r"]))
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
        if self.learned_returns:
            out[f"{prefix}/learned_return"] = float(np.mean(self.learned_returns))
        self.true_returns.clear()
        self.learned_returns.clear()
        self.lengths.clear()
        return out
