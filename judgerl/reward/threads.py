"""Cap torch's CPU threads around bulk work on small networks.

Why: reward MLPs multiply small matrices, which gain nothing from intra-op
threads, and on a busy 2-core machine two torch threads made a 500-label fit
take 132 s instead of 6 s and scoring 800 segments 0.3 s instead of 0.03 s
(spin-waiting OpenMP workers compete with everything else).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count.

    Args:
        n: Threads to use, or ``None`` to leave torch's setting alone.
    """
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
