"""The Bradley–Terry preference loss with soft targets (ties allowed)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bt_loss(returns_a: torch.Tensor, returns_b: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r"""Mean Bradley–Terry cross-entropy of predicted returns against soft preference labels.

    The model's probability that segment A is preferred is
    :math:`P(A \succ B) = \sigma(R_A - R_B)` (Bradley & Terry 1952, "Rank analysis
    of incomplete block designs"; used for reward learning by Christiano et al.
    2017, "Deep reinforcement learning from human preferences"). With label
    :math:`y \in [0, 1]` (1 = A better, 0 = B better, 0.5 = tie) the loss is

    .. math::
        L = -\frac{1}{B}\sum_i \big[y_i \log\sigma(d_i) + (1 - y_i)\log\sigma(-d_i)\big],
        \quad d_i = R_{A,i} - R_{B,i}.

    A tie (:math:`y = 0.5`) is minimised at :math:`d = 0` with value :math:`\log 2`.
    Computed with ``binary_cross_entropy_with_logits`` (log-sum-exp form), so
    large return gaps do not overflow.

    Args:
        returns_a: Predicted returns of the first segments, shape ``(B,)``.
        returns_b: Predicted returns of the second segments, shape ``(B,)``.
        targets: Probability that A is better, shape ``(B,)``, in ``[0, 1]``.

    Returns:
        Scalar tensor (nats per pair).
    """
    if not returns_a.shape == returns_b.shape == targets.shape:
        raise ValueError(
            f"bt_loss shapes differ: returns_a {tuple(returns_a.shape)}, returns_b {tuple(returns_b.shape)}, "
            f"targets {tuple(targets.shape)}"
        )
    logits = returns_a - returns_b
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="mean")
