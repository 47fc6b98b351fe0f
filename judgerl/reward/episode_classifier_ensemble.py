"""An ensemble of episode classifiers (mean = score, std = disagreement).

Members differ by initialisation and by their train/validation split; their
disagreement (std of the predicted probability) ranks episodes for active
query selection. ``judgerl.reward.episode_reward`` streams the ensemble one
step at a time to turn the change of its score into a per-step reward.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from judgerl.reward.episode_classifier import (
    EpisodeClassifier,
    VerdictFitConfig,
    _HasFitFields,
    fit_verdicts,
    predict_episodes,
    predict_prefix,
)


class EpisodeClassifierEnsemble:
    """``K`` independently trained ``EpisodeClassifier`` members.

    Args:
        members: The classifiers (all with the same ``input_shape``).
    """

    def __init__(self, members: Sequence[EpisodeClassifier]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        shapes = {m.input_shape for m in members}
        if len(shapes) != 1:
            raise ValueError(f"members disagree on input_shape: {shapes}")
        self.members = list(members)
        self.input_shape = self.members[0].input_shape

    @classmethod
    def create(
        cls, k: int, input_shape: Sequence[int] = (12, 14, 4), hidden: int = 64, channels: int = 16, seed: int = 0
    ) -> EpisodeClassifierEnsemble:
        """Build ``k`` freshly initialised members (member ``i`` uses torch seed ``seed + i``)."""
        members = []
        for i in range(k):
            torch.manual_seed(seed + i)
            members.append(EpisodeClassifier(input_shape, hidden=hidden, channels=channels))
        return cls(members)

    def fit(
        self,
        episodes_obs: Sequence[np.ndarray],
        verdicts: np.ndarray,
        cfg: VerdictFitConfig | _HasFitFields | None = None,
        rng: np.random.Generator | None = None,
    ) -> dict[str, float]:
        """Fit every member (each on its own random split); metrics are averaged over members.

        Returns:
            The keys of ``fit_verdicts``, averaged, plus ``reward/classifier_members``.
        """
        rng = rng if rng is not None else np.random.default_rng()
        runs = []
        for m in self.members:
            member_rng = np.random.default_rng(rng.integers(2**63))
            runs.append(fit_verdicts(m, episodes_obs, verdicts, cfg, member_rng))
        out = {}
        for key in runs[0]:
            values = np.array([r[key] for r in runs], dtype=np.float64)
            out[key] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        out["reward/classifier_members"] = float(len(self.members))
        return out

    def predict_all(self, episodes_obs: Sequence[np.ndarray]) -> np.ndarray:
        """Every member's P(yes), shape ``(K, N)`` float32."""
        return np.stack([predict_episodes(m, episodes_obs) for m in self.members])

    def predict_episodes(self, episodes_obs: Sequence[np.ndarray]) -> np.ndarray:
        """Mean P(yes) over members, shape ``(N,)`` float32."""
        return self.predict_all(episodes_obs).mean(axis=0)

    def predict_std(self, episodes_obs: Sequence[np.ndarray]) -> np.ndarray:
        """Disagreement: std of P(yes) over members, shape ``(N,)`` float32 (0 for one member)."""
        return self.predict_all(episodes_obs).std(axis=0)

    def predict_prefix(self, episodes_obs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Mean P(yes) of every prefix, one ``(T_i,)`` array per episode."""
        per_member = [predict_prefix(m, episodes_obs) for m in self.members]
        return [np.mean([pm[i] for pm in per_member], axis=0) for i in range(len(episodes_obs))]

    def save(self, path: str | Path) -> None:
        """Write all members to one file."""
        torch.save([{"kwargs": m.init_kwargs(), "state_dict": m.state_dict()} for m in self.members], Path(path))

    @classmethod
    def load(cls, path: str | Path) -> EpisodeClassifierEnsemble:
        """Read an ensemble written by ``save``."""
        blobs = torch.load(Path(path), map_location="cpu", weights_only=True)
        members = []
        for blob in blobs:
            m = EpisodeClassifier(**blob["kwargs"])
            m.load_state_dict(blob["state_dict"])
            m.eval()
            members.append(m)
        return cls(members)
