"""The tuned NetHack policy keeps its scale: a layer norm in the encoder (0054) and ReLU heads (0055)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from judgerl.testing.optional import importorskip

importorskip("nle", "nethack")

from judgerl.agents.sb3 import agent_hyperparams, make_agent  # noqa: E402
from judgerl.envs.factory import make_env, make_vec_env  # noqa: E402
from judgerl.envs.nethack_policy import NetHackEncoder  # noqa: E402
from judgerl.tasks import get_task  # noqa: E402


def test_the_tuned_encoder_keeps_its_feature_scale_and_old_agents_keep_theirs() -> None:
    task = get_task("nethack/staircase-status-map-v4")
    kwargs = agent_hyperparams(task, "PPO", {}, 10_000)["policy_kwargs"]["features_extractor_kwargs"]
    assert kwargs["layer_norm"] is True  # every NetHack task trains with it
    env = make_env(task, seed=0)
    obs, _ = env.reset(seed=0)
    env.close()
    batch = {k: torch.as_tensor(np.stack([v, v])) for k, v in obs.items()}
    torch.manual_seed(0)
    tuned = NetHackEncoder(env.observation_space, features_dim=32, layer_norm=True)
    plain = NetHackEncoder(env.observation_space, features_dim=32)
    assert len(plain.out) == 2  # the layers agents saved before the layer norm hold, so they load unchanged
    before = tuned(batch), plain(batch)
    with torch.no_grad():  # weights that grew 100-fold in training, as the first staircase agents' did
        for enc in (tuned, plain):
            enc.out[0].weight.mul_(100.0)
            enc.out[0].bias.mul_(100.0)
    after = tuned(batch), plain(batch)
    torch.testing.assert_close(after[0], before[0], rtol=1e-4, atol=1e-4)  # the layer norm undoes the scale
    torch.testing.assert_close(after[1], 100.0 * before[1])  # without it the heads' Tanh would see it all


def test_the_tuned_heads_are_relu_so_grown_weights_keep_their_gradient() -> None:
    task = get_task("nethack/staircase-status-map-v4")
    venv = make_vec_env(task, 1, seed=0)
    tuned = make_agent("PPO", venv, task, seed=0).policy.mlp_extractor  # type: ignore[attr-defined]
    before = make_agent("PPO", venv, task, seed=0, policy_kwargs={"activation_fn": "torch.nn:Tanh"})
    venv.close()
    assert all(isinstance(net[1], torch.nn.ReLU) for net in (tuned.policy_net, tuned.value_net))
    x = torch.randn(64, 128)

    def grad_norm(head: torch.nn.Module) -> float:
        xg = x.clone().requires_grad_(True)
        head(xg).sum().backward()
        return float(xg.grad.norm())  # type: ignore[union-attr]

    old = before.policy.mlp_extractor.value_net  # type: ignore[attr-defined]
    g0, saturated0 = grad_norm(tuned.value_net), float((old[0](x).abs() > 3).float().mean())
    with torch.no_grad():  # the heads' first layer grown, as the 2M-step value heads' did (0055); 100x for a clear test
        for head in (tuned.value_net, old):
            head[0].weight.mul_(100.0)
            head[0].bias.mul_(100.0)
    # ReLU: the same units stay on, so the gradient grows with the weights and nothing saturates
    assert grad_norm(tuned.value_net) / g0 == pytest.approx(100.0, rel=1e-3)
    # Tanh: most units end up beyond ±3, where they pass almost no gradient
    saturated = float((old[0](x).abs() > 3).float().mean())
    assert saturated0 < 0.05 and saturated > 0.5, (saturated0, saturated)
