import math

import numpy as np
import pytest
import torch

from judgerl.reward.bradley_terry import bt_loss


def _t(*xs: float) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float64)


def test_tie_at_equal_returns_is_log2():
    loss = bt_loss(_t(3.0, -1.0), _t(3.0, -1.0), _t(0.5, 0.5))
    assert float(loss) == pytest.approx(math.log(2.0), abs=1e-12)


def test_matches_manual_binary_cross_entropy():
    ra, rb, y = _t(1.0, 0.0, 2.0, -0.5), _t(0.0, 1.0, -1.0, 0.5), _t(1.0, 0.0, 0.3, 0.5)
    d = (ra - rb).numpy()
    p = 1.0 / (1.0 + np.exp(-d))
    manual = -np.mean(y.numpy() * np.log(p) + (1 - y.numpy()) * np.log(1 - p))
    assert float(bt_loss(ra, rb, y)) == pytest.approx(manual, rel=1e-12)


def test_gradient_zero_at_tie_optimum_and_nonzero_elsewhere():
    ra = _t(0.7, -2.0).requires_grad_()
    rb = _t(0.7, -2.0).requires_grad_()
    bt_loss(ra, rb, _t(0.5, 0.5)).backward()
    assert ra.grad is not None and rb.grad is not None
    assert torch.allclose(ra.grad, torch.zeros(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(rb.grad, torch.zeros(2, dtype=torch.float64), atol=1e-12)

    ra2 = _t(0.7).requires_grad_()
    bt_loss(ra2, _t(0.7), _t(1.0)).backward()
    assert ra2.grad is not None and float(ra2.grad) < 0  # preferring A pushes R_A up


@pytest.mark.parametrize("y", [0.1, 0.3, 0.5, 0.8])
def test_soft_target_optimum_is_logit(y):
    # dL/dd = sigmoid(d) - y, so the minimiser is d* = logit(y).
    d = torch.tensor([math.log(y / (1 - y))], dtype=torch.float64, requires_grad=True)
    bt_loss(d, torch.zeros(1, dtype=torch.float64), _t(y)).backward()
    assert d.grad is not None and abs(float(d.grad)) < 1e-12


def test_numerically_stable_for_large_gaps():
    ra = torch.tensor([1000.0, -1000.0], requires_grad=True)
    loss = bt_loss(ra, torch.zeros(2), torch.tensor([0.0, 1.0]))
    loss.backward()
    value = float(loss.detach())
    assert math.isfinite(value) and value == pytest.approx(1000.0, rel=1e-6)
    assert ra.grad is not None and torch.isfinite(ra.grad).all()


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        bt_loss(torch.zeros(3), torch.zeros(2), torch.zeros(3))


def test_bt_loss_with_label_noise_matches_closed_form_and_bounds_flipped_labels() -> None:
    eps = 0.1
    d = torch.tensor([0.0, 2.0, -30.0], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    p = eps / 2 + (1 - eps) * torch.sigmoid(d)
    expected = -torch.log(p).mean()
    got = bt_loss(d, torch.zeros_like(d), y, noise=eps)
    assert torch.allclose(got, expected, atol=1e-12)
    # A confidently contradicted label costs at most -log(eps/2), unlike plain BT (which grows linearly in d).
    worst = bt_loss(torch.tensor([-1000.0]), torch.tensor([0.0]), torch.tensor([1.0]), noise=eps)
    assert float(worst) <= -math.log(eps / 2) + 1e-6
    assert float(bt_loss(torch.tensor([-1000.0]), torch.tensor([0.0]), torch.tensor([1.0]))) > 999
