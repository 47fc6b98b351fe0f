"""A text featuriser with no pretrained knowledge: hashed word unigrams and bigrams (for ``reward.caption_encoder``).

Motif's reward model reads the message with an encoder trained from scratch on
the judge's preferences; :class:`CaptionPreferenceReward` can do the same with
this featuriser in place of the frozen MiniLM. A caption becomes its lower-cased
words (runs of letters, runs of digits), each word and each pair of neighbouring
words is hashed (CRC-32, stable across processes, unlike Python's ``hash``) into
one of ``buckets`` slots, and the counts are scaled to unit length. Nothing here
is learned: the reward head's first layer, trained on the labels alone, is the
learned embedding of every hashed n-gram (a bag-of-n-grams model in the manner
of fastText, Joulin et al. 2016). So the reward can only tell messages apart by
their words, and it knows nothing of what the words mean beyond what the labels
say: "You kill the newt!" and "You kill the jackal!" share "you kill" and "kill
the", while "You find a hidden door." and "You find a secret passage." share
almost nothing a pretrained encoder would see.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

NAME = "hashed-ngrams"
_WORD = re.compile(r"[a-z]+|[0-9]+")


class HashedNgrams:
    """Hashed word unigrams and bigrams, L2-normalised counts: ``encode_texts(texts) -> (N, buckets)`` float32.

    Args:
        buckets: Hash slots (a larger table has fewer collisions and a larger head).
    """

    name = NAME

    def __init__(self, buckets: int = 2048) -> None:
        if buckets < 2:
            raise ValueError(f"buckets must be at least 2, got {buckets}")
        self.buckets = int(buckets)

    def ngrams(self, text: str) -> list[str]:
        """The unigrams and bigrams of ``text`` (lower-cased words)."""
        words = _WORD.findall(text.lower())
        return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``(N, buckets)`` float32: each text's hashed n-gram counts over their Euclidean norm (0 for no words)."""
        out = np.zeros((len(texts), self.buckets), np.float32)
        for i, text in enumerate(texts):
            for gram in self.ngrams(text):
                out[i, zlib.crc32(gram.encode()) % self.buckets] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
