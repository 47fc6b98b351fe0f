"""VLM-RM's reward: CLIP's goal–baseline score of each rendered frame, used directly (``reward.model: zero_shot``).

With ``judge.type: clip`` the zero-shot reward of a step is ``ClipJudge``'s
score of the frame of the state the step reached (Rocamonde et al. 2023,
arXiv:2310.12921; decision 0023). Nothing is fitted and no label is stored.

Batching: the env wrapper (``judgerl.envs.reward_wrapper``) hands over every
frame of a PPO rollout, or of an off-policy agent's collection chunk
(``train_freq`` steps), in one :meth:`ClipFrameReward.predict_frames` call,
which encodes the frames it has not seen in one ``encode_frames`` call (the
encoder runs them through the model in ``judge.zero_shot.batch_size``
chunks). A cache keyed on a hash of each frame's bytes skips frames seen
before: fixed-camera tasks revisit the same picture often (a pole at rest
looks the same from episode to episode), and at CLIP's input size nearby
states often render to identical pixels.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Protocol

import numpy as np


class FrameScorer(Protocol):
    """What encodes frames: ``ClipJudge``, or ``ActorPoolScorer`` spreading it over Ray actors."""

    def score_frames(self, frames: np.ndarray) -> np.ndarray:
        """Scores ``(N,)`` of RGB frames ``(N, H, W, 3)`` uint8."""
        ...


def frame_key(frame: np.ndarray) -> bytes:
    """The cache key of one frame: a 128-bit BLAKE2b digest of its shape and bytes."""
    arr = np.ascontiguousarray(frame)
    h = hashlib.blake2b(digest_size=16)
    h.update(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.digest()


class ClipFrameReward:
    """A ``FrameRewardModel``: reward of a frame = ``ClipJudge``'s goal–baseline score of it.

    Args:
        judge: The CLIP judge (model, goal and baseline texts, alpha), or a pool of Ray actors
            each holding one (``judge.zero_shot.actors``, ``judgerl.reward.score_pool``).
        frame_size: Side length of the frames the env renders for it; default: the judge's model's
            ``image_size`` (required for a pool).
        cache_size: Most frame scores remembered (LRU); 16 bytes of key and one float each.

    Attributes:
        encoder_calls: ``encode_frames`` calls so far (one per ``predict_frames`` with an unseen frame).
        frames_scored: Frames asked for so far.
        frames_encoded: Frames that went through the model so far.
        cache_hits: Frames answered from the cache (or repeated within one call).
    """

    def __init__(self, judge: FrameScorer, frame_size: int | None = None, cache_size: int = 262_144) -> None:
        self.judge = judge
        self.frame_size = int(frame_size if frame_size is not None else judge.encoder.image_size)  # type: ignore[attr-defined]
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        self.encoder_calls = 0
        self.frames_scored = 0
        self.frames_encoded = 0
        self.cache_hits = 0
        self.encode_s = 0.0
        self._since: dict[str, float] = {}

    def predict_frames(self, frames: np.ndarray) -> np.ndarray:
        """Zero-shot reward of each frame: cached scores, the rest encoded in one batched call.

        Args:
            frames: RGB frames, shape ``(N, H, W, 3)`` uint8 (``H = W = frame_size`` from the env).

        Returns:
            Rewards, shape ``(N,)`` float32.
        """
        arr = np.asarray(frames)
        keys = [frame_key(f) for f in arr]
        missing: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in self._cache and k not in missing:
                missing[k] = i
        if missing:
            t0 = time.perf_counter()
            scores = self.judge.score_frames(arr[list(missing.values())])
            self.encode_s += time.perf_counter() - t0
            self.encoder_calls += 1
            self.frames_encoded += len(missing)
            for k, s in zip(missing, scores, strict=True):
                self._cache[k] = float(s)
        out = np.empty(len(keys), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = self._cache[k]
            self._cache.move_to_end(k)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self.frames_scored += len(keys)
        self.cache_hits += len(keys) - len(missing)
        return out

    def pop_stats(self) -> dict[str, float]:
        """``zero_shot/*`` metrics since the last call: frames scored and encoded, cache hit rate, encoding time."""
        now = {
            "scored": float(self.frames_scored),
            "encoded": float(self.frames_encoded),
            "calls": float(self.encoder_calls),
            "encode_s": self.encode_s,
        }
        d = {k: v - self._since.get(k, 0.0) for k, v in now.items()}
        self._since = now
        if d["scored"] == 0:
            return {}
        return {
            "zero_shot/frames_scored": d["scored"],
            "zero_shot/frames_encoded": d["encoded"],
            "zero_shot/encoder_calls": d["calls"],
            "zero_shot/cache_hit_rate": 1.0 - d["encoded"] / d["scored"],
            "zero_shot/encode_s": d["encode_s"],
        }
