"""The grid CNN for PPO on ``homegrid/cat-values-v0`` (a features extractor named in ``agent.policy_kwargs``).

The "naive" policy of seed 003 is PPO on the task reward alone (reach the
fruit quickly); it crushes the cat whenever the cat lies on its way. Seed 003
trained it for 1.3·10⁷ steps with SB3's defaults; judgerl's tuned PPO defaults
for the task (``judgerl.agents.sb3``, with this CNN) learn it on two CPU cores
in minutes instead.

Measured (2 shared CPU cores, torch 1 thread, 16 envs, CNN defaults): 500k steps
in 225–245 s reach the fruit in 99.9–100 % of 1000 sampled episodes and crush
the cat in 59–60 % (seeds 0 and 1; seed 003 reports 61 %). 300k steps with
learning rate 1e-3 reached 97 %; an MLP on the flattened grid reached only 44 %
after 200k steps.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class HomegridCNN(BaseFeaturesExtractor):
    """Features of a ``(12, 14, 4)`` grid: two 3×3 convolutions with x/y coordinate planes, then a linear layer.

    Coordinate planes (CoordConv, Liu et al. 2018) let the network compare the
    robot's and the fruit's positions, which plain convolutions find hard.

    Args:
        observation_space: Box of shape ``(12, 14, C)`` (channels last).
        features_dim: Output size.
        channels: Width of the convolutions.
    """

    coords: torch.Tensor

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 256, channels: int = 32) -> None:
        super().__init__(observation_space, features_dim)
        h, w, c = observation_space.shape
        ys = torch.linspace(-1.0, 1.0, h).view(1, 1, h, 1).expand(1, 1, h, w)
        xs = torch.linspace(-1.0, 1.0, w).view(1, 1, 1, w).expand(1, 1, h, w)
        self.register_buffer("coords", torch.cat([xs, ys], dim=1))
        self.conv = nn.Sequential(
            nn.Conv2d(c + 2, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * h * w, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Map observations ``(B, 12, 14, C)`` to features ``(B, features_dim)``."""
        x = observations.permute(0, 3, 1, 2)
        x = torch.cat([x, self.coords.expand(x.shape[0], -1, -1, -1)], dim=1)
        return self.head(self.conv(x))
