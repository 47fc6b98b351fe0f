"""A small MLP reward network with built-in input standardisation.

Activation choice: ReLU by default. Its piecewise-linear extrapolation makes
ensemble members drift apart away from the labelled data (their disagreement is
what the active query sampler looks for), it trains fast, and the standardised
inputs keep units alive. Tanh is available (``RewardConfig.activation``) for
smoother, bounded hidden features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

Activation = Literal["relu", "tanh"]
_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": torch.relu, "tanh": torch.tanh}

# Features whose spread is below this are left unscaled (constant one-hot columns,
# the absorbing flag when no segment ended): dividing by ~0 would blow up new inputs.
_MIN_STD = 1e-6


class RewardNet(nn.Module):
    """MLP ``(..., F) -> (...)``: standardise features, then hidden layers, then one scalar.

    Args:
        n_features: Input width ``F``.
        hidden_sizes: Widths of the hidden layers (may be empty: a linear model).
        activation: ``"relu"`` or ``"tanh"``.
    """

    feat_mean: torch.Tensor
    feat_inv_std: torch.Tensor
    fitted: torch.Tensor

    def __init__(
        self, n_features: int, hidden_sizes: Sequence[int] = (64, 64), activation: Activation = "relu"
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.n_features = int(n_features)
        self.activation = activation
        self._act = _ACTIVATIONS[activation]
        widths = [self.n_features, *(int(h) for h in hidden_sizes), 1]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(widths[:-1], widths[1:], strict=True))
        # Buffers travel with state_dict (save/load) but are not trained.
        self.register_buffer("feat_mean", torch.zeros(self.n_features))
        self.register_buffer("feat_inv_std", torch.ones(self.n_features))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self._cache_params()

    def _cache_params(self) -> None:
        # forward() runs every env step on a handful of rows, where nn.Module call
        # overhead dominates; plain references to the (in-place updated) parameters
        # roughly halve its cost. Rebuilt by _apply whenever .to()/.float() swaps tensors.
        self._params = [(lin.weight, lin.bias) for lin in self.layers if isinstance(lin, nn.Linear)]

    def _apply(self, fn: Any, recurse: bool = True) -> RewardNet:
        out = super()._apply(fn, recurse)
        self._cache_params()
        return out

    def fit_standardizer(self, features: torch.Tensor) -> None:
        """Set the input mean and scale from example feature rows.

        Args:
            features: Shape ``(M, F)``; typically every real, non-absorbing step
                of the training segments.
        """
        x = features.detach().reshape(-1, self.n_features).double()
        if x.shape[0] == 0:
            raise ValueError("fit_standardizer needs at least one feature row")
        mean = x.mean(dim=0)
        std = x.std(dim=0, unbiased=False)
        inv = torch.where(std > _MIN_STD, 1.0 / std.clamp_min(_MIN_STD), torch.ones_like(std))
        self.feat_mean.copy_(mean.float())
        self.feat_inv_std.copy_(inv.float())
        self.fitted.fill_(True)

    def restandardize(self, features: torch.Tensor) -> None:
        """Refit the input standardisation on new rows without changing the function the net computes.

        The first layer absorbs the change: with old ``(m, s)`` and new ``(m', s')``
        (mean, inverse std), ``W' = W * (s / s')`` and ``b' = b + W ((m' - m) * s)``.
        A warm-started net keeps what it learned, while its inputs stay in units of
        the data it now sees: a standardisation fitted once on a random policy's
        narrow states put CartPole's track edge ~24 standard deviations out, where
        any slope the net had was amplified and weight decay barely reached it.

        Args:
            features: Shape ``(M, F)``, as for ``fit_standardizer``.
        """
        if not bool(self.fitted):
            self.fit_standardizer(features)
            return
        old_mean, old_inv = self.feat_mean.double().clone(), self.feat_inv_std.double().clone()
        self.fit_standardizer(features)
        w, b = self._params[0]
        with torch.no_grad():
            wd = w.double()
            shift = wd @ ((self.feat_mean.double() - old_mean) * old_inv)
            w.copy_((wd * (old_inv / self.feat_inv_std.double())[None, :]).float())
            b.add_(shift.float())

    def reset_parameters(self) -> None:
        """Re-initialise every linear layer (PyTorch defaults); standardisation stays."""
        for lin in self.layers:
            if isinstance(lin, nn.Linear):
                lin.reset_parameters()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Reward per row.

        Args:
            features: Shape ``(..., F)`` float32.

        Returns:
            Shape ``(...)``, one scalar per row.
        """
        h = (features - self.feat_mean) * self.feat_inv_std
        last = len(self._params) - 1
        for i, (w, b) in enumerate(self._params):
            h = F.linear(h, w, b)
            if i < last:
                h = self._act(h)
        return h.squeeze(-1)
