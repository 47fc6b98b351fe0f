"""The VLM-RM reward on captions: each step's caption scored zero-shot by the embedding judge, used directly.

``reward.model: zero_shot`` with ``judge.type: embedding`` (``judgerl.reward.registry``); frames scored by
CLIP are ``judgerl.reward.zero_shot_frames``. Nothing is fitted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from judgerl.queries.segments import END_CAPTION


class CaptionScorer(Protocol):
    """What scores captions: ``EmbeddingJudge``, or ``ActorPoolScorer`` spreading it over Ray actors."""

    def score_captions(self, captions: Sequence[str]) -> np.ndarray:
        """Scores ``(N,)`` of ``N`` captions."""
        ...


class ZeroShotReward:
    """A ``RewardModel`` that captions observations and scores the captions zero-shot.

    The VLM-RM reward path: reward per step = the judge's goal–baseline score
    of the step's caption. Captions repeat a lot (they are banded words), so
    scores are memoised per caption in an LRU cache.

    Args:
        judge: An ``EmbeddingJudge``, or a pool of Ray actors each holding one
            (``judge.zero_shot.actors``); anything with ``score_captions``.
        captioner: Maps one observation ``(O,)`` to a caption; default: the
            judge's task captioner (required for a pool).
        cache_size: Most captions remembered.
    """

    def __init__(
        self,
        judge: CaptionScorer,
        captioner: Callable[[np.ndarray], str] | None = None,
        cache_size: int = 65_536,
    ) -> None:
        self.judge = judge
        self.captioner = captioner if captioner is not None else judge.task.captioner  # type: ignore[attr-defined]
        task = getattr(judge, "task", None)
        self.end_caption: str = getattr(task, "end_caption", END_CAPTION)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, float] = OrderedDict()

    def predict(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
        """Zero-shot reward of each transition (actions are ignored).

        Absorbing rows (``dones``) are scored as the caption the judge sees on
        absorbing padding, the task's ``end_caption`` (``judgerl.queries.segments``),
        not as a caption of their all-zero observation: the env wrapper subtracts
        this row's reward from every step (its absorbing offset), and an all-zero
        CartPole observation captions as the goal itself (score 1, so every live
        step would pay at most 0 and the agent would learn to fall; decision 0020).

        Args:
            obs: Observations, shape ``(N, O)``.
            acts: Actions, shape ``(N, A)`` (unused: the score is of the state).
            dones: Absorbing-step flags, shape ``(N,)``; ``None`` means none.

        Returns:
            Rewards, shape ``(N,)`` float32.
        """
        absorbing = np.zeros(len(obs), bool) if dones is None else np.asarray(dones).reshape(-1) >= 0.5
        rows = np.asarray(obs)
        captions = [self.end_caption if end else self.captioner(o) for o, end in zip(rows, absorbing, strict=True)]
        missing = list(dict.fromkeys(c for c in captions if c not in self._cache))
        if missing:
            for c, s in zip(missing, self.judge.score_captions(missing), strict=True):
                self._cache[c] = float(s)
        out = np.empty(len(captions), dtype=np.float32)
        for i, c in enumerate(captions):
            out[i] = self._cache[c]
            self._cache.move_to_end(c)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out
