"""Progress bars for the long stages (labelling, reward fitting, RL) that stay out of logs and tests.

Bars are tqdm's, on stderr, and only on a terminal: ``disable=None`` turns a bar
off when stderr is not a TTY (a log file, a test's captured output, CI), so the
``metrics.jsonl`` lines printed on stdout stay the record. ``TQDM_DISABLE=1``
turns them off on a terminal too (tqdm reads ``TQDM_*`` variables). Bars are
not left behind (``leave=False``): once a stage ends its metrics line says what
happened. A bar draws no random numbers, so it changes no result.
"""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from tqdm.auto import tqdm


def progress_bar(total: int | None, desc: str, unit: str = "it") -> Any:
    """A tqdm bar on stderr that shows only on a terminal.

    Args:
        total: Expected count (``None``: unknown).
        desc: Short label, e.g. ``"judge it 2"``.
        unit: What is counted (``"label"``, ``"step"``, ``"epoch"``).

    Returns:
        A ``tqdm`` object (use ``update(n)`` and ``close()``, or ``with``).
    """
    return tqdm(total=total, desc=desc, unit=unit, disable=None, leave=False, dynamic_ncols=True)


class StepBar(BaseCallback):
    """An SB3 callback that advances a bar by the env steps of each ``learn`` call.

    SB3's own ``progress_bar=True`` draws a rich bar even into log files; this one
    follows :func:`progress_bar`'s terminal-only rule.

    Args:
        desc: The bar's label.
    """

    def __init__(self, desc: str = "train") -> None:
        super().__init__()
        self.desc = desc
        self._bar: Any = None
        self._start = 0

    def _on_training_start(self) -> None:
        total = self.locals.get("total_timesteps")
        self._start = int(self.model.num_timesteps)
        todo = int(total) - self._start if total is not None else None
        self._bar = progress_bar(todo, self.desc, unit="step")

    def _on_step(self) -> bool:
        if self._bar is not None:
            self._bar.update(int(self.model.num_timesteps) - self._start - self._bar.n)
        return True

    def _on_training_end(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
