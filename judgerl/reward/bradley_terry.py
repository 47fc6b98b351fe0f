"""The Bradley–Terry preference loss with soft targets (ties allowed)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def bt_loss(
    returns_a: torch.Tensor, returns_b: torch.Tensor, targets: torch.Tensor, noise: float = 0.0
) -> torch.Tensor:
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

    With ``noise`` :math:`\epsilon > 0` the judge is modelled as answering at random
    with probability :math:`\epsilon`: :math:`P(A \succ B) = \epsilon/2 + (1-\epsilon)\sigma(d)`
    (imitation's ``noise_prob``; Christiano et al. 2017 use 0.1). A flipped label
    then costs at most :math:`-\log(\epsilon/2)` instead of growing without bound,
    so a few wrong labels cannot drag the reward far.
    Computed with ``binary_cross_entropy_with_logits`` (log-sum-exp form), so
    large return gaps do not overflow.

    Args:
        returns_a: Predicted returns of the first segments, shape ``(B,)``.
        returns_b: Predicted returns of the second segments, shape ``(B,)``.
        targets: Probability that A is better, shape ``(B,)``, in ``[0, 1]``.
        noise: Probability :math:`\epsilon \in [0, 1)` that a label is a random answer.

    Returns:
        Scalar tensor (nats per pair).
    """
    if not returns_a.shape == returns_b.shape == targets.shape:
        raise ValueError(
            f"bt_loss shapes differ: returns_a {tuple(returns_a.shape)}, returns_b {tuple(returns_b.shape)}, "
            f"targets {tuple(targets.shape)}"
        )
    logits = returns_a - returns_b
    y = targets.to(logits.dtype)
    if noise <= 0.0:
        return F.binary_cross_entropy_with_logits(logits, y, reduction="mean")
    if not 0.0 < noise < 1.0:
        raise ValueError(f"noise must lie in [0, 1), got {noise}")
    floor = torch.full_like(logits, math.log(noise / 2))
    scale = math.log1p(-noise)
    log_p = torch.logaddexp(floor, scale + F.logsigmoid(logits))
    log_q = torch.logaddexp(floor, scale + F.logsigmoid(-logits))
    return -(y * log_p + (1 - y) * log_q).mean()
