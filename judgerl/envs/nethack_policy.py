"""A small NetHack features extractor for PPO (``agent.policy_kwargs.features_extractor_class``).

Three inputs of the Dict observation (``judgerl.envs.nethack``), each encoded
small enough to train on two CPU cores:

- ``glyphs`` (the ``crop × crop`` window around the hero): a learned embedding
  per glyph id (NLE's 5,976 glyphs), two 3×3 convolutions, a linear layer;
- ``blstats``: a signed log (``sign(x)·log(1 + |x|)``: score, gold and turn
  span orders of magnitude, HP and position do not) and an MLP;
- ``message`` (optional, on by default): a learned embedding of the message's
  identity (a polynomial hash of its 256 bytes into ``message_buckets``
  buckets). The learned reward of a step is a function of its message
  (``caption_preference``), so the value function needs to see which message
  it is; a hash is exact up to rare collisions and costs nothing next to a
  convolution over the bytes, which halved the training speed.

``prev_blstats`` (``status_changes``) and ``landmarks`` (which stairs, gold... came into
view and which one the hero stands on), if present, are encoded like ``blstats``, in the same MLP.
``map`` (``full_map``), if present, is read as 14 classes (unexplored, wall,
door, floor, corridor, stairs up and down, monster, pet, object, the hero...:
``judgerl.envs.nethack_map.MAP_CLASSES``), counted per 3×3 block (21×79 → 14
classes × 7×27 blocks, no gradient), then one narrow stride-2 convolution
(→ 4×14) and a linear layer, so the policy sees the whole level at a fraction
of the cost of the crop. A learned embedding of all 5,976 glyphs over the map's
1,659 cells made training 4 times slower (its backward pass alone cost more
than the crop's whole encoder); a one-hot of the cells, 2.5 times.
The features are concatenated and mapped to ``features_dim`` by a linear
layer, with a layer norm before its ReLU when ``layer_norm`` (the tuned default): SB3's
policy and value heads start with a Tanh layer, and the unnormalised features of the first
staircase agents grew until every Tanh unit saturated, which left policies that acted
the same in every state (decision 0054). The tuned heads are ReLU for the same reason:
with Tanh heads the value head's own weights grew until its units saturated again (decision 0055).
This is the shape of the NLE baseline (Küttler et al. 2020) and of
Motif's policy, much reduced.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from judgerl.envs.nethack import BL_X, BL_Y

_GLYPHS = 5977  # nle.nethack.MAX_GLYPH + 1
_BLOCK = 3  # side of the map blocks whose classes are counted
_HASH_BASE = 257


def symlog(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) · log(1 + |x|)``, elementwise."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


class NetHackEncoder(BaseFeaturesExtractor):
    """Features of a NetHack Dict observation: glyph-crop CNN, blstats MLP, optional message CNN.

    Args:
        observation_space: The env's Dict space (``glyphs``, ``blstats``, ``message``; ``prev_blstats`` optional).
        features_dim: Output size.
        glyph_dim: Size of a glyph's embedding.
        channels: Width of the crop convolutions.
        stats_dim: Width of the blstats MLP.
        message_dim: Size of a message's embedding; 0 leaves the message out.
        message_buckets: Hash buckets for messages (a prime keeps collisions rare).
        map_channels: Width of the map convolutions.
        layer_norm: Normalise the output layer's pre-activations (keeps the features' scale fixed
            during training; off by default only so that agents saved before it load unchanged).
    """

    powers: torch.Tensor
    classes: torch.Tensor
    block_of_cell: torch.Tensor

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        features_dim: int = 128,
        glyph_dim: int = 16,
        channels: int = 16,
        stats_dim: int = 64,
        message_dim: int = 16,
        message_buckets: int = 4093,
        map_channels: int = 8,
        layer_norm: bool = False,
    ) -> None:
        super().__init__(observation_space, features_dim)
        members = observation_space.spaces
        missing = {"glyphs", "blstats"} - set(members)
        if missing:
            raise ValueError(f"NetHackEncoder needs a Dict observation with glyphs and blstats; missing {missing}")
        side = int(members["glyphs"].shape[0])  # type: ignore[index]
        # the landmarks member says what the hero stands on, which its own glyph hides in the crop and the map
        self.stat_keys = [k for k in ("blstats", "prev_blstats", "landmarks") if k in members]
        self.use_message = message_dim > 0 and "message" in members
        self.glyph_embed = nn.Embedding(_GLYPHS, glyph_dim)
        self.crop = nn.Sequential(
            nn.Conv2d(glyph_dim, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(channels * side * side, features_dim),
            nn.ReLU(),
        )
        n_stats = sum(int(np.prod(members[k].shape or ())) for k in self.stat_keys)
        self.stats = nn.Sequential(nn.Linear(n_stats, stats_dim), nn.ReLU())
        width = features_dim + stats_dim
        if self.use_message:
            n_bytes = int(members["message"].shape[0])  # type: ignore[index]
            self.buckets = int(message_buckets)
            powers = [1]
            for _ in range(n_bytes - 1):
                powers.append(powers[-1] * _HASH_BASE % self.buckets)
            self.register_buffer("powers", torch.tensor(powers, dtype=torch.int64))
            self.message = nn.Embedding(self.buckets, message_dim)
            width += message_dim
        self.use_map = "map" in members
        if self.use_map:
            from judgerl.envs.nethack_map import MAP_CLASSES, glyph_classes

            self.n_classes = len(MAP_CLASSES)
            self.hero_class = MAP_CLASSES.index("hero")
            self.register_buffer("classes", torch.as_tensor(glyph_classes()))
            rows, cols = members["map"].shape  # type: ignore[misc]
            self.blocks = -(-rows // _BLOCK), -(-cols // _BLOCK)
            r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
            self.register_buffer("block_of_cell", ((r // _BLOCK) * self.blocks[1] + c // _BLOCK).reshape(-1))
            down = (self.blocks[0] + 1) // 2, (self.blocks[1] + 1) // 2
            self.map = nn.Sequential(
                nn.Conv2d(self.n_classes, map_channels, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(map_channels * down[0] * down[1], features_dim),
                nn.ReLU(),
            )
            width += features_dim
        norm = [nn.LayerNorm(features_dim)] if layer_norm else []
        self.out = nn.Sequential(nn.Linear(width, features_dim), *norm, nn.ReLU())

    def _map_counts(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, n_classes, 7, 27)``: cells of each class in each 3×3 block of the map, over 9 (the hero its own class).

        Counting is a fixed, gradient-free summary (one scatter-add), so the
        learned part starts on 189 blocks instead of 1,659 cells.
        """
        cls = self.classes[observations["map"].long().clamp(0, _GLYPHS - 1)]  # (B, H, W)
        batch, rows, cols = cls.shape
        stats = observations["blstats"].long()
        y, x = stats[:, BL_Y].clamp(0, rows - 1), stats[:, BL_X].clamp(0, cols - 1)
        cls[torch.arange(batch), y, x] = self.hero_class
        n_blocks = self.blocks[0] * self.blocks[1]
        index = cls.reshape(batch, -1) * n_blocks + self.block_of_cell
        counts = torch.zeros(batch, self.n_classes * n_blocks, device=cls.device)
        counts.scatter_add_(1, index, torch.ones(1, 1, device=cls.device).expand_as(index))
        return counts.view(batch, self.n_classes, *self.blocks) / _BLOCK**2

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        """Map a batch of observations (``glyphs (B, S, S)``, ``blstats (B, 27)``, ...) to ``(B, features_dim)``."""
        glyphs = observations["glyphs"].long().clamp(0, _GLYPHS - 1)
        g = self.glyph_embed(glyphs).permute(0, 3, 1, 2)  # (B, E, S, S)
        stats = torch.cat([symlog(observations[k].float().flatten(1)) for k in self.stat_keys], dim=1)
        parts = [self.crop(g), self.stats(stats)]
        if self.use_map:
            parts.append(self.map(self._map_counts(observations)))
        if self.use_message:
            ids = (observations["message"].long() * self.powers).sum(dim=1) % self.buckets
            parts.append(self.message(ids))
        return self.out(torch.cat(parts, dim=1))
