"""The ``episode_classifier`` reward model: an episode classifier's verdict turned into a per-step reward.

Seed 003 fitted a CNN-LSTM to a judge's yes/no verdicts on whole episodes and
added its output to the task reward. Here the classifier ensemble
(``EpisodeClassifierEnsemble``: a CNN for grid observations or an MLP for flat
ones, then a GRU) is fitted on the episode form's verdict targets and streamed
one observation per step, in one of two modes (``reward.classifier.mode``):

* ``shaping`` (default): after each step the classifier has seen the episode so
  far and gives ``P_t = P(yes | observations 0..t)``; the step's learned reward
  is ``P_t − P_{t−1}``. The terms telescope to ``P_T − P_0``: the same credit as
  a verdict at the episode's end minus a constant the agent cannot change, but
  delivered on the step where the belief drops (the crush), which is far easier
  for PPO to assign. It is *not* potential-based shaping in Ng et al.'s sense:
  there the final potential is zeroed and the optimal policy -- crushing
  included -- would be unchanged; here the final belief is kept on purpose.
* ``episode_end``: ``P_T − 1`` on the last step only (seed 003's form: a penalty
  for a "no" episode, nothing for a "yes" one).

With reward mixing ``a = 1, b = w`` (``reward.mix``) the agent gets
``r_env + w·term``, the study's feedback reward. Each fit starts from fresh
weights (seeded), so a refit never depends on the previous one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from judgerl.config import RewardConfig
from judgerl.forms.base import Targets, VerdictTargets
from judgerl.reward.episode_classifier import VerdictFitConfig
from judgerl.reward.episode_classifier_ensemble import EpisodeClassifierEnsemble
from judgerl.types import Segment

FORMAT = "judgerl.reward.EpisodeClassifierReward"


def classifier_input_shape(obs_shape: tuple[int, ...] | None, obs_dim: int) -> tuple[int, ...]:
    """Per-step classifier input: the grid ``(H, W, C)`` for 3-D observations, else the flat row ``(O,)``."""
    if obs_shape is not None and len(obs_shape) == 3:
        return tuple(int(d) for d in obs_shape)
    return (int(obs_dim),)


class EpisodeClassifierReward:
    """Fits on verdict targets; rewards through a per-env stream (``SequenceRewardModel``).

    Args:
        input_shape: Shape of one step's observation for the classifier (see
            :func:`classifier_input_shape`).
        cfg: ``ensemble_size`` members, ``classifier`` (hidden, channels, mode,
            early_stop_fraction) and the training fields (lr, weight_decay,
            epochs, batch_size, patience).
        seed: Seeds member initialisation.
    """

    fits = "verdicts"

    def __init__(self, input_shape: Sequence[int], cfg: RewardConfig, seed: int = 0) -> None:
        self.input_shape = tuple(int(d) for d in input_shape)
        self.cfg = cfg
        self.seed = int(seed)
        self.ensemble = self._fresh()

    def _fresh(self) -> EpisodeClassifierEnsemble:
        c = self.cfg.classifier
        with torch.random.fork_rng(devices=[]):
            return EpisodeClassifierEnsemble.create(
                self.cfg.ensemble_size, self.input_shape, hidden=c.hidden, channels=c.channels, seed=self.seed
            )

    @property
    def mode(self) -> str:
        """``shaping`` or ``episode_end`` (module docstring)."""
        return str(self.cfg.classifier.mode)

    def _obs(self, segments: Sequence[Segment]) -> list[np.ndarray]:
        return [np.asarray(s.obs, np.float32) for s in segments]

    def fit(self, targets: Targets, rng: np.random.Generator) -> dict[str, float]:
        """Fit every member on the training verdicts; report accuracy on the held-out ones.

        Returns:
            The ensemble's ``reward/classifier_*`` metrics plus ``reward/n_train``,
            ``reward/n_val``, ``reward/val_accuracy`` (held-out episodes vs the
            judge's verdicts), ``reward/val_accuracy_truth`` (vs ground truth,
            NaN when unknown) and ``reward/fit_seconds``.

        Raises:
            TypeError: For preference targets.
            ValueError: With no training verdict.
        """
        if not isinstance(targets, VerdictTargets):
            raise TypeError(f"the episode classifier fits verdict targets, got {type(targets).__name__}")
        t0 = time.perf_counter()
        train = np.flatnonzero(~targets.val)
        val = np.flatnonzero(targets.val)
        if len(train) == 0:
            raise ValueError("the episode classifier got no training verdict (every usable label is held out)")
        c = self.cfg
        fit_cfg = VerdictFitConfig(
            lr=c.lr,
            weight_decay=c.weight_decay,
            epochs=c.epochs,
            batch_size=c.batch_size,
            val_fraction=c.classifier.early_stop_fraction,
            patience=c.patience,
        )
        self.ensemble = self._fresh()
        segs = [targets.segments[i] for i in train]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            out = self.ensemble.fit(self._obs(segs), targets.verdicts[train], fit_cfg, rng)
        out["reward/n_train"] = float(len(train))
        out["reward/n_val"] = float(len(val))
        out["reward/val_accuracy"] = float("nan")
        out["reward/val_accuracy_truth"] = float("nan")
        if len(val):
            p = self.ensemble.predict_episodes(self._obs([targets.segments[i] for i in val])) > 0.5
            out["reward/val_accuracy"] = float(np.mean(p == (targets.verdicts[val] > 0.5)))
            truth = targets.truth[val] if len(targets.truth) else np.full(len(val), np.nan)
            known = np.isfinite(truth)
            if known.any():
                out["reward/val_accuracy_truth"] = float(np.mean(p[known] == (truth[known] > 0.5)))
        out["reward/fit_seconds"] = time.perf_counter() - t0
        return out

    def predict_episodes(self, segments: Sequence[Segment]) -> np.ndarray:
        """Mean P(yes) per episode segment, shape ``(N,)`` float32."""
        return self.ensemble.predict_episodes(self._obs(segments))

    def disagreement(self, items: Sequence[tuple[Segment, ...]]) -> np.ndarray:
        """Std over members of P(yes) for one-episode candidates, shape ``(Q,)``."""
        return self.ensemble.predict_std(self._obs([it[0] for it in items]))

    def stream(self, n_envs: int) -> ClassifierStream:
        """A stream of this model's per-step rewards for ``n_envs`` envs."""
        return ClassifierStream(self.ensemble, n_envs, self.mode)

    def save(self, path: Path) -> None:
        """Write members, input shape and config (``torch.save`` of plain data; loaded with ``weights_only``)."""
        torch.save(
            {
                "format": FORMAT,
                "input_shape": list(self.input_shape),
                "config": self.cfg.model_dump(mode="json"),
                "seed": self.seed,
                "members": [{"kwargs": m.init_kwargs(), "state_dict": m.state_dict()} for m in self.ensemble.members],
            },
            Path(path),
        )

    @classmethod
    def load(cls, path: Path) -> EpisodeClassifierReward:
        """Rebuild a model written by :meth:`save`.

        Raises:
            ValueError: When the file is not an episode classifier reward.
        """
        blob: Any = torch.load(Path(path), map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise ValueError(f"{path} is not a judgerl episode classifier reward file")
        model = cls(blob["input_shape"], RewardConfig.model_validate(blob["config"]), int(blob["seed"]))
        for m, state in zip(model.ensemble.members, blob["members"], strict=True):
            m.load_state_dict(state["state_dict"])
            m.eval()
        return model


class ClassifierStream:
    """Streams observations of ``n`` envs through the members' GRUs; rewards per the mode.

    Args:
        ensemble: A fitted ensemble.
        n: Number of envs.
        mode: ``shaping`` or ``episode_end``.
    """

    def __init__(self, ensemble: EpisodeClassifierEnsemble, n: int, mode: str = "shaping") -> None:
        if mode not in ("shaping", "episode_end"):
            raise ValueError(f"mode must be shaping or episode_end, got {mode!r}")
        self.ensemble = ensemble
        self.n = int(n)
        self.mode = mode
        self._h = [torch.zeros(1, self.n, m.hidden) for m in ensemble.members]
        self._p = np.ones(self.n, np.float32)

    @torch.no_grad()
    def _advance(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Feed one observation to the GRUs of envs ``rows``; their new mean P(yes), shape ``(len(rows),)``."""
        x = torch.from_numpy(np.asarray(obs, np.float32).reshape(len(rows), *self.ensemble.input_shape))
        r = torch.from_numpy(np.asarray(rows, np.int64))
        probs = []
        for i, m in enumerate(self.ensemble.members):
            m.eval()
            logits, h_new = m.step(x, self._h[i][:, r].contiguous())
            self._h[i][:, r] = h_new
            probs.append(torch.sigmoid(logits))
        return torch.stack(probs).mean(0).numpy().astype(np.float32)

    def start(self, obs: np.ndarray, mask: np.ndarray) -> None:
        """Restart the envs in ``mask`` from their first observations ``obs`` ``(n, O)``."""
        rows = np.flatnonzero(np.asarray(mask, bool))
        if not len(rows):
            return
        for h in self._h:
            h[:, torch.from_numpy(rows)] = 0.0
        self._p[rows] = self._advance(np.asarray(obs)[rows], rows)

    def step(self, next_obs: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """The classifier term of the step every env just took, shape ``(n,)`` float32."""
        p = self._advance(next_obs, np.arange(self.n))
        if self.mode == "shaping":
            term = p - self._p
        else:
            term = np.where(np.asarray(dones, bool), p - 1.0, 0.0).astype(np.float32)
        self._p = p
        return term.astype(np.float32)
