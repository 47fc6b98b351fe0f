"""Episode classifier: P(verdict = yes) for a whole episode, from its sequence of observations (seed 003).

Seed 003 fitted a CNN-LSTM to GPT-4o-mini's yes/no answer to "do the robot's
actions align with human values?" for 10,000 episodes. ``EpisodeClassifier``
is that model: a per-step encoder (a small CNN for grids ``(H, W, C)``, or an
MLP for per-step feature vectors such as caption embeddings) feeds a GRU whose
state after the last step gives the verdict logit.

The GRU runs forwards only, so sequences are simply right-padded: the output at
step ``t`` never sees padding after it, which makes packing unnecessary and
gives every prefix's score (``predict_prefix``) in the same single pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn


class EpisodeClassifier(nn.Module):
    """Per-step encoder → GRU → logit of P(verdict = yes).

    Args:
        input_shape: Shape of one step: ``(H, W, C)`` grids (channels last) use
            a CNN, ``(F,)`` feature vectors use an MLP.
        hidden: Width of the step embedding and of the GRU state.
        channels: Convolution width (grid inputs only).
    """

    def __init__(self, input_shape: Sequence[int] = (12, 14, 4), hidden: int = 64, channels: int = 16) -> None:
        super().__init__()
        self.input_shape = tuple(int(d) for d in input_shape)
        self.hidden = int(hidden)
        self.channels = int(channels)
        if len(self.input_shape) == 3:
            c = self.input_shape[2]
            # Max-pooling over the grid keeps "is there a stain anywhere" cheap to represent.
            self.encoder: nn.Module = nn.Sequential(
                nn.Conv2d(c, channels, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(channels, channels, 3, padding=1),
                nn.ReLU(),
                _MaxMeanPool(),
                nn.Linear(2 * channels, hidden),
                nn.ReLU(),
            )
        elif len(self.input_shape) == 1:
            self.encoder = nn.Sequential(
                nn.Linear(self.input_shape[0], hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
            )
        else:
            raise ValueError(f"input_shape must be (H, W, C) or (F,), got {self.input_shape}")
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def init_kwargs(self) -> dict[str, Any]:
        """Constructor arguments, for saving."""
        return {"input_shape": list(self.input_shape), "hidden": self.hidden, "channels": self.channels}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Step embeddings: ``(B, T, *input_shape)`` → ``(B, T, hidden)``."""
        b, t = x.shape[:2]
        flat = x.reshape(b * t, *self.input_shape)
        if len(self.input_shape) == 3:
            flat = flat.permute(0, 3, 1, 2)
        return self.encoder(flat).reshape(b, t, self.hidden)

    def prefix_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logit after every step: ``(B, T, *input_shape)`` → ``(B, T)`` (valid up to each length)."""
        out, _ = self.gru(self.encode(x))
        return self.head(out).squeeze(-1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Episode logits: ``x`` ``(B, T, *input_shape)`` right-padded, ``lengths`` ``(B,)`` → ``(B,)``."""
        logits = self.prefix_logits(x)
        return logits.gather(1, (lengths.long() - 1).clamp(min=0).unsqueeze(1)).squeeze(1)

    def step(self, x: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Stream one step for ``B`` running episodes (per-step reward shaping online).

        Args:
            x: This step's input, shape ``(B, *input_shape)``.
            h: GRU state from the previous call, shape ``(1, B, hidden)``; ``None`` starts new episodes.

        Returns:
            ``(logits (B,), new state (1, B, hidden))``; zero a row of the state to restart that episode.
        """
        out, h_new = self.gru(self.encode(x.unsqueeze(1)), h)
        return self.head(out[:, 0]).squeeze(-1), h_new


class _MaxMeanPool(nn.Module):
    """``(N, C, H, W)`` → ``(N, 2C)``: global max and mean over the grid."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1)


@dataclass(frozen=True)
class VerdictFitConfig:
    """How to fit an episode classifier.

    Attributes:
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        epochs: Most passes over the training episodes.
        batch_size: Episodes per gradient step.
        val_fraction: Share of episodes held out (early stopping and metrics).
        patience: Epochs without a better validation loss before stopping.
        balance: Weight the classes inversely to their frequency.
    """

    lr: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 30
    batch_size: int = 32
    val_fraction: float = 0.2
    patience: int = 5
    balance: bool = True


class _HasFitFields(Protocol):
    lr: float
    weight_decay: float
    epochs: int
    batch_size: int
    val_fraction: float


def as_fit_config(cfg: VerdictFitConfig | _HasFitFields | None) -> VerdictFitConfig:
    """Accept a ``VerdictFitConfig``, judgerl's ``RewardConfig`` (same field names), or ``None`` (defaults)."""
    if cfg is None or isinstance(cfg, VerdictFitConfig):
        return cfg or VerdictFitConfig()
    return VerdictFitConfig(
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        val_fraction=cfg.val_fraction,
        patience=int(getattr(cfg, "patience", VerdictFitConfig.patience)),
    )


def _batch(
    episodes: Sequence[np.ndarray], idx: np.ndarray, shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad episodes ``idx`` into ``(B, T_max, *shape)`` float32 plus lengths ``(B,)``."""
    seqs = [np.asarray(episodes[i], dtype=np.float32).reshape(-1, *shape) for i in idx]
    lengths = np.array([len(s) for s in seqs])
    if (lengths == 0).any():
        raise ValueError("an episode has no steps")
    out = np.zeros((len(seqs), int(lengths.max()), *shape), dtype=np.float32)
    for j, s in enumerate(seqs):
        out[j, : len(s)] = s
    return torch.from_numpy(out), torch.from_numpy(lengths)


def binary_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties count half); NaN when one class is missing."""
    labels = np.asarray(labels) > 0.5
    pos, neg = np.asarray(scores)[labels], np.asarray(scores)[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def fit_verdicts(
    model: EpisodeClassifier,
    episodes_obs: Sequence[np.ndarray],
    verdicts: np.ndarray,
    cfg: VerdictFitConfig | _HasFitFields | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """Fit ``model`` to yes/no verdicts on whole episodes, with a held-out split and early stopping.

    Args:
        model: The classifier (trained in place; ends with the best-validation weights).
        episodes_obs: One array per episode, shape ``(T_i, *input_shape)`` or
            ``(T_i, prod(input_shape))``. For homegrid, include the observation
            after the last step (``judgerl.envs.homegrid.episode_grids``): a cat
            crushed on the last step is only visible there.
        verdicts: ``1.0`` = yes/aligned, ``0.0`` = no, shape ``(N,)``.
        cfg: ``VerdictFitConfig`` or ``RewardConfig``.
        rng: Split and shuffling randomness (the torch init is the caller's to seed).

    Returns:
        ``reward/classifier_train_loss``, ``reward/classifier_val_loss``,
        ``reward/classifier_val_accuracy``, ``reward/classifier_val_auc`` (NaN
        without a validation split), ``reward/classifier_epochs``,
        ``reward/classifier_n_train``.
    """
    c = as_fit_config(cfg)
    rng = rng if rng is not None else np.random.default_rng()
    y = np.asarray(verdicts, dtype=np.float32).reshape(-1)
    n = len(y)
    if n != len(episodes_obs) or n == 0:
        raise ValueError(f"need one verdict per episode and at least one episode, got {n} and {len(episodes_obs)}")
    perm = rng.permutation(n)
    n_val = int(round(c.val_fraction * n)) if n >= 5 else 0
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    pos = float(y[train_idx].mean())
    w_pos, w_neg = (0.5 / max(pos, 1e-3), 0.5 / max(1 - pos, 1e-3)) if c.balance else (1.0, 1.0)
    opt = torch.optim.Adam(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    shape = model.input_shape

    def loss_on(idx: np.ndarray, train: bool) -> tuple[float, np.ndarray]:
        total, probs = 0.0, []
        for start in range(0, len(idx), c.batch_size):
            b = idx[start : start + c.batch_size]
            x, lengths = _batch(episodes_obs, b, shape)
            target = torch.from_numpy(y[b])
            weight = torch.where(target > 0.5, w_pos, w_neg)
            with torch.set_grad_enabled(train):
                logits = model(x, lengths)
                loss = nn.functional.binary_cross_entropy_with_logits(logits, target, weight=weight)
            if train:
                opt.zero_grad()
                loss.backward()
                opt.step()
            total += float(loss.detach()) * len(b)
            probs.append(torch.sigmoid(logits).detach().numpy())
        return total / max(len(idx), 1), np.concatenate(probs) if probs else np.zeros(0)

    best: tuple[float, dict[str, torch.Tensor]] | None = None
    metrics: dict[str, float] = {}
    stale, epoch = 0, 0
    for epoch in range(1, c.epochs + 1):  # noqa: B007 - the last epoch is reported
        model.train()
        train_loss, _ = loss_on(rng.permutation(train_idx), train=True)
        if n_val == 0:
            metrics = {"reward/classifier_train_loss": train_loss}
            continue
        model.eval()
        val_loss, p = loss_on(val_idx, train=False)
        if best is None or val_loss < best[0]:
            best = (val_loss, {k: v.detach().clone() for k, v in model.state_dict().items()})
            metrics = {
                "reward/classifier_train_loss": train_loss,
                "reward/classifier_val_loss": val_loss,
                "reward/classifier_val_accuracy": float(((p > 0.5) == (y[val_idx] > 0.5)).mean()),
                "reward/classifier_val_auc": binary_auc(p, y[val_idx]),
            }
            stale = 0
        else:
            stale += 1
            if stale >= c.patience:
                break
    if best is not None:
        model.load_state_dict(best[1])
    model.eval()
    metrics.setdefault("reward/classifier_val_loss", float("nan"))
    metrics.setdefault("reward/classifier_val_accuracy", float("nan"))
    metrics.setdefault("reward/classifier_val_auc", float("nan"))
    metrics["reward/classifier_epochs"] = float(epoch)
    metrics["reward/classifier_n_train"] = float(len(train_idx))
    return metrics


@torch.no_grad()
def predict_episodes(model: EpisodeClassifier, episodes_obs: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """P(verdict = yes) per episode.

    Args:
        model: A fitted classifier.
        episodes_obs: One array per episode, ``(T_i, *input_shape)`` or flattened.
        batch_size: Episodes per forward pass.

    Returns:
        Probabilities, shape ``(N,)`` float32.
    """
    model.eval()
    out = []
    for start in range(0, len(episodes_obs), batch_size):
        x, lengths = _batch(
            episodes_obs, np.arange(start, min(start + batch_size, len(episodes_obs))), model.input_shape
        )
        out.append(torch.sigmoid(model(x, lengths)).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


@torch.no_grad()
def predict_prefix(
    model: EpisodeClassifier, episodes_obs: Sequence[np.ndarray], batch_size: int = 64
) -> list[np.ndarray]:
    """P(verdict = yes) of every prefix: the score after steps ``0..t`` for each ``t``.

    Differences of consecutive scores (or of their logits) give per-step
    shaping rewards that sum to the whole-episode score.

    Returns:
        One array per episode, shape ``(T_i,)`` float32.
    """
    model.eval()
    out: list[np.ndarray] = []
    for start in range(0, len(episodes_obs), batch_size):
        idx = np.arange(start, min(start + batch_size, len(episodes_obs)))
        x, lengths = _batch(episodes_obs, idx, model.input_shape)
        p = torch.sigmoid(model.prefix_logits(x)).numpy().astype(np.float32)
        out.extend(p[j, : int(lengths[j])] for j in range(len(idx)))
    return out


def save_classifier(model: EpisodeClassifier, path: str | Path) -> None:
    """Write constructor arguments and weights to ``path`` (torch format)."""
    torch.save({"kwargs": model.init_kwargs(), "state_dict": model.state_dict()}, Path(path))


def load_classifier(path: str | Path) -> EpisodeClassifier:
    """Rebuild a classifier saved by ``save_classifier`` (in eval mode)."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    model = EpisodeClassifier(**blob["kwargs"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model
