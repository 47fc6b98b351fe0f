"""The QuerySampler interface: which segments to ask the judge about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from judgerl.types import Query, Segment


@runtime_checkable
class QuerySampler(Protocol):
    """Chooses queries from a pool of segments."""

    def sample(self, segments: Sequence[Segment], n: int, rng: np.random.Generator) -> list[Query]:
        """Return ``n`` queries (fewer only if the pool is too small) built from ``segments``."""
        ...
