"""The flatness prior of the preference trainer (decisions 0028 and 0036).

``reward.flatness`` (λ) adds λ × the variance of the per-step reward to the
Bradley–Terry loss, so the reward varies across states only where labels
require it. ``reward.flatness_support`` says over which states:

- ``labelled``: the live steps of the minibatch's labelled segments only.
- ``box`` (the default): those plus ``BOX_ROWS`` *virtual* live steps per
  minibatch, drawn uniformly from the per-feature box of the labelled live
  observations (the box that ``reward.clip_to_data`` clips to). A slope in
  states the segments barely cover (CartPole's track edge) costs as much as
  one in the crowded centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from judgerl.reward.features import SegmentBatch

# Virtual rows drawn per minibatch with ``flatness_support: box``; a few hundred keep the variance estimate
# steady for a tiny MLP at little cost.
BOX_ROWS = 256


def flatness(rewards: torch.Tensor, live: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
    """Variance of the per-step reward over the live steps (and ``extra`` rewards); 0 with fewer than 2.

    Args:
        rewards: Per-step rewards ``(S, T)``.
        live: ``(S, T)`` weights, 1 on real non-absorbing steps, else 0.
        extra: Rewards ``(V,)`` of virtual live steps, or ``None``.
    """
    if extra is not None and extra.numel() > 0:
        rewards = torch.cat([rewards.reshape(-1), extra.reshape(-1)])
        live = torch.cat([live.reshape(-1), torch.ones_like(extra.reshape(-1))])
    n = live.sum()
    if float(n) < 2:
        return rewards.new_zeros(())
    mean = (rewards * live).sum() / n
    return (((rewards - mean) ** 2) * live).sum() / n


@dataclass(frozen=True)
class FeatureBox:
    """Where virtual live steps are drawn: observation columns uniform in the labelled range.

    Attributes:
        low: ``(O,)`` float32, per-column minimum of the live observation features.
        high: ``(O,)`` float32, per-column maximum.
        templates: ``(M, F)`` float32, real live feature rows; a virtual row is a
            template whose first ``O`` (observation) columns are redrawn, so its
            action columns and absorbing flag (0) stay valid.
    """

    low: torch.Tensor
    high: torch.Tensor
    templates: torch.Tensor

    @classmethod
    def of(cls, batch: SegmentBatch, obs_dim: int) -> FeatureBox | None:
        """The box of the live steps of ``batch``; ``None`` without any live step."""
        live = batch.step_weights(zero_absorbing=True) > 0  # real, non-absorbing steps
        rows = batch.features[live]
        if len(rows) == 0:
            return None
        obs = rows[:, :obs_dim]
        return cls(low=obs.min(dim=0).values, high=obs.max(dim=0).values, templates=rows)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` virtual live feature rows ``(n, F)``, drawn with ``gen``."""
        pick = torch.randint(len(self.templates), (n,), generator=gen)
        rows = self.templates[pick].clone()
        u = torch.rand((n, len(self.low)), generator=gen)
        rows[:, : len(self.low)] = self.low + u * (self.high - self.low)
        return rows
