"""Refit the reward model in the background, on a private copy, as online labels arrive (decision 0027).

A daemon thread watches a count of usable labels; when ``refit_every`` new ones
have arrived it fits its own copy of the reward model (warm start, as blocking
mode's refits) on every usable label of the run, saves ``reward_model.pt`` and
publishes a deep copy. The training thread takes the published copy with
:meth:`BackgroundFitter.take` at a rollout boundary; the model the agent is
scored by is never touched by this thread.
"""

from __future__ import annotations

import copy
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.checkpoints import CheckpointInfo, save_checkpoint
from judgerl.forms import FeedbackForm, TargetPlan, plan_targets
from judgerl.labels.store import LabelStore


class BackgroundFitter:
    """Fits a copy of the reward model whenever enough new labels arrived; the newest fit waits in :attr:`ready`.

    Args:
        model: The reward model to start from (copied; the original is not touched).
        store: The run's label store.
        judge_id: Whose labels to fit on.
        run_id: The run whose queries count.
        form: The feedback form (labels → targets).
        plan: How labels become targets.
        count: Returns the number of usable labels so far (polled).
        refit_every: New usable labels per refit.
        path: Where each fit is saved (``reward_model.pt``), or ``None``.
        seed: Seed of the fits' random streams (one stream per fit).
        iteration: Returns the loop's current iteration (recorded in the checkpoint).

    Attributes:
        fits: Fits finished; ``errors``: fits that raised (logged, the thread goes on).
        last_metrics: The newest fit's metrics.
    """

    def __init__(
        self,
        model: Any,
        store: LabelStore,
        judge_id: str,
        run_id: str,
        form: FeedbackForm,
        plan: TargetPlan,
        count: Callable[[], int],
        refit_every: int,
        path: Path | None,
        seed: int,
        iteration: Callable[[], int],
    ) -> None:
        self.working = copy.deepcopy(model)
        self.store = store
        self.judge_id = judge_id
        self.run_id = run_id
        self.form = form
        self.plan = plan
        self.count = count
        self.refit_every = int(refit_every)
        self.path = path
        self.seed = int(seed)
        self.iteration = iteration
        self.fits = 0
        self.errors = 0
        self.last_metrics: dict[str, float] = {}
        self.fitted_on = 0  # usable-label count at the last fit
        self._ready: Any = None
        self._segments: dict[str, Any] = {}  # decoded once, reused by every later fit (content-addressed)
        self._lock = threading.Lock()
        self._fit_lock = threading.Lock()  # the thread's fit and a final fit never overlap
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="judgerl-reward-fitter", daemon=True)

    def start(self) -> None:
        """Start the fitting thread."""
        self._thread.start()

    def take(self) -> Any:
        """The newest published fit, once (``None`` when nothing new is ready)."""
        with self._lock:
            ready, self._ready = self._ready, None
        return ready

    def fit_now(self) -> bool:
        """Fit once on every usable label now, in the calling thread; ``True`` when a fit was published."""
        with self._fit_lock:
            n = self.count()
            labelled = sorted(
                self.store.labelled(self.judge_id, min_iteration=0, run_id=self.run_id, memo=self._segments),
                key=lambda r: r[1].query_key,
            )
            rng = np.random.default_rng([self.seed, 1, 0x0A11, self.fits])
            targets = plan_targets(self.form, labelled, rng, self.plan)
            self.fitted_on = n
            if len(targets) == 0:
                return False
            metrics = self._fit(targets, rng)
            if self.path is not None:
                info = CheckpointInfo(
                    iteration=self.iteration(), stage="online", labels=len(targets), extra={"metrics": metrics}
                )
                save_checkpoint(self.path, self.working.save, info)
            published = copy.deepcopy(self.working)
            with self._lock:
                self._ready = published
                self.fits += 1
                self.last_metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
            return True

    def _fit(self, targets: Any, rng: np.random.Generator) -> dict[str, float]:
        """Fit :attr:`working` on ``targets`` (warm start); returns the fit's metrics."""
        return dict(self.working.fit(targets, rng))

    def stop(self) -> None:
        """Stop the thread after its current fit (:meth:`fit_now` still works)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def close(self) -> None:
        """Stop the thread and release what the fitter holds (after this, no more fits)."""
        self.stop()

    def _work(self) -> None:
        while not self._stop.wait(0.05):
            if self.count() - self.fitted_on < self.refit_every:
                continue
            try:
                self.fit_now()
            except Exception:  # noqa: BLE001 -- a failed fit keeps the current model; the run goes on
                self.errors += 1
                self.fitted_on = self.count()
                print(f"judgerl: background reward fit failed:\n{traceback.format_exc()}", file=sys.stderr)
