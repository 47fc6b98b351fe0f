"""Online refits in a process of their own (``labels.online_fit_process: process``, decision 0038).

Why: :class:`~judgerl.reward.online_fit.BackgroundFitter` fits in a thread of the
training process. A reward MLP's fit is thousands of small torch calls, each
dispatched with the interpreter lock held, so the agent's own Python waits while
it runs: on CartPole/PPO against a fake server at 0.2 s, online runs trained at
0.86-0.93x the no-judge rate, and 0.95x with refits off (benchmarks/online.py).

:class:`ProcessFitter` keeps everything else of the thread fitter (when to refit,
which labels, the targets, the seed of each fit, the checkpoint, the swap at a
rollout boundary) and only sends each fit to a child: the child holds its own copy
of the model (warm starts continue there), fits on the targets it is sent with the
generator it is sent, and returns the fitted model, pickled. The same inputs give
the same model as a fit in the thread. A child that died is started again from the
last fitted model at the next refit; the fit it held counts as failed and the run
goes on with the model it has.
"""

from __future__ import annotations

import pickle
import sys
import traceback
from typing import Any

import numpy as np

from judgerl.child_process import HelperProcess, HelperProcessError, connect_back
from judgerl.reward.online_fit import BackgroundFitter


class ProcessFitter(BackgroundFitter):
    """A :class:`BackgroundFitter` whose fits run in a child process.

    Args:
        *args: As :class:`BackgroundFitter`.
        threads: torch and BLAS threads in the child (``threads`` of the run).
        **kwargs: As :class:`BackgroundFitter`.

    Raises:
        HelperProcessError: The child could not start, or the model could not be sent to it
            (a reward model that does not pickle).

    Attributes:
        restarts: Children started again after one died.
    """

    def __init__(self, *args: Any, threads: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.threads = int(threads)
        self.restarts = 0
        self._closed = False
        self._child = self._start_child()

    def _start_child(self) -> HelperProcess:
        try:
            blob = pickle.dumps(self.working)
        except Exception as e:  # noqa: BLE001 -- any pickling failure means the same thing to the user
            raise HelperProcessError(f"the reward model cannot be sent to a process ({type(e).__name__}: {e})") from e
        child = HelperProcess("judgerl.reward.fit_process", "the reward fit process")
        try:
            child.send(("init", blob, self.threads))
            msg = child.recv(300.0)
        except HelperProcessError:
            child.close()
            raise
        if msg[0] != "ready":
            child.close()
            raise HelperProcessError(f"the reward fit process could not start: {msg[1]}")
        return child

    def _fit(self, targets: Any, rng: np.random.Generator) -> dict[str, float]:
        """Fit in the child; :attr:`working` becomes the model it returns."""
        if self._closed:
            raise RuntimeError("the reward fit process was closed")
        if not self._child.alive():
            self._child.close()
            self.restarts += 1
            self._child = self._start_child()
        self._child.send(("fit", targets, rng))
        msg = self._child.recv(None)
        if msg[0] != "fitted":
            raise RuntimeError(f"the reward fit process failed:\n{msg[1]}")
        self.working = pickle.loads(msg[2])
        return dict(msg[1])

    def close(self) -> None:
        """Stop the thread after its current fit, then the child."""
        self.stop()
        self._closed = True
        self._child.close()


def _serve(conn: Any, blob: bytes, threads: int) -> None:
    """The child: hold the model, fit it on each batch of targets sent, send it back, until told to stop."""
    from judgerl.reward.threads import run_threads

    try:
        model = pickle.loads(blob)
        conn.send(("ready",))
    except Exception as e:  # noqa: BLE001 -- reported to the parent, which raises it
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone (even a kill -9)
            return
        if msg[0] == "stop":
            return
        _, targets, rng = msg
        try:
            with run_threads(threads):
                metrics = model.fit(targets, rng)
            conn.send(("fitted", metrics, pickle.dumps(model)))
        except Exception:  # noqa: BLE001 -- the parent counts a failed fit and goes on
            conn.send(("error", traceback.format_exc()))


def main() -> None:
    """The child's entry point: connect back to the parent, then :func:`_serve`."""
    conn = connect_back(sys.argv[1:])
    _, blob, threads = conn.recv()
    _serve(conn, blob, threads)


if __name__ == "__main__":
    main()
