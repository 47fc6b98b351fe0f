"""A local-model judge in its own process, for online labelling (decision 0035).

Why: online mode judges in a worker thread of the training process. An HTTP judge
mostly waits there, but a model that computes in Python (the embedding judge's
MiniLM, CLIP) holds the interpreter lock for much of each batch, and the agent's
own Python waits for it: sampled with py-spy on an online Pendulum run with the
embedded judge, the worker held the lock in 385 samples against the training
thread's 2,572. In a process of its own the model computes beside the agent, not
between its steps.

:class:`ProcessJudge` keeps the :class:`~judgerl.judges.base.Judge` protocol: it
builds the configured judge in a spawned child (``make_judge`` on the task looked
up by id), sends each batch of queries through a pipe, and reports every label
the child sends back as it arrives (so :class:`~judgerl.labels.cached.CachedJudge`
commits it at once). A child that dies is started again on the next batch; the
batch it held is asked again by the online labeller (its restart logic), and
nothing it never reported was stored.

The child is ``python -m judgerl.labels.judge_process``, started and connected
by :class:`~judgerl.child_process.HelperProcess` (a subprocess, not a
multiprocessing spawn; an authenticated loopback socket).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from judgerl.child_process import HelperProcess, HelperProcessError, connect_back
from judgerl.config import JudgeConfig
from judgerl.judges.base import JudgeConfigError, OnLabel
from judgerl.types import Label, Query, TaskSpec


class JudgeProcessError(HelperProcessError):
    """The judge process could not start (its message says why) or died mid-batch."""


def _serve(conn: Connection, judge_cfg: dict[str, Any], task_id: str, seed: int, threads: int) -> None:
    """The child: build the judge, then answer batches until told to stop or the parent is gone."""
    try:
        from judgerl.tasks import get_task

        task = get_task(task_id)  # first: an unknown task is reported before torch is even imported

        import torch

        from judgerl.judges.factory import make_judge

        torch.set_num_threads(threads)
        judge = make_judge(JudgeConfig.model_validate(judge_cfg), task, seed)
        conn.send(("ready", judge.id))
    except Exception as e:  # noqa: BLE001 -- reported to the parent, which decides
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone (even a kill -9): nothing left to answer
            return
        if msg[0] == "stop":
            return
        queries: list[Query] = msg[1]
        try:
            labels = judge.judge(task, queries, on_label=_reporter(conn, queries))
            fn = getattr(judge, "metrics", None)
            raw = fn() if callable(fn) else {}
            metrics = {k: float(v) for k, v in raw.items() if isinstance(v, int | float)}
            conn.send(("done", labels, metrics))
        except JudgeConfigError as e:
            conn.send(("config_error", str(e)))
        except Exception:  # noqa: BLE001 -- the parent raises it in the worker thread
            conn.send(("error", traceback.format_exc()))


def _reporter(conn: Connection, queries: Sequence[Query]) -> OnLabel:
    """An ``on_label`` that sends each label to the parent with its query's position in the batch."""
    where = {q.key: i for i, q in enumerate(queries)}
    return lambda q, lab: conn.send(("label", where[q.key], lab))


class ProcessJudge:
    """The judge ``judge_cfg`` describes, run in a spawned process.

    Args:
        judge_cfg: The judge's config (``make_judge`` builds it in the child).
        task_id: The task, looked up in the child's task registry.
        seed: The judge's seed.
        threads: torch threads in the child.
        start_timeout_s: Longest wait for the child to load its model.

    Raises:
        JudgeProcessError: The child could not build the judge (an unknown task id, e.g. one a
            plugin registered only in this process; a missing model) or did not answer in time.

    Attributes:
        restarts: Children started again after one died.
    """

    def __init__(
        self, judge_cfg: JudgeConfig, task_id: str, seed: int, threads: int = 1, start_timeout_s: float = 300.0
    ) -> None:
        self._args = (judge_cfg.model_dump(mode="json"), task_id, int(seed), int(threads))
        self.start_timeout_s = float(start_timeout_s)
        self.restarts = 0
        self._metrics: dict[str, float] = {}
        self._id = ""
        self._start()

    def _start(self) -> None:
        try:
            self._child = HelperProcess("judgerl.labels.judge_process", "the judge process", self.start_timeout_s)
        except HelperProcessError as e:
            raise JudgeProcessError(str(e)) from None
        try:
            self._child.send(("init", *self._args))
            msg = self._recv(max(1.0, self._child.deadline - time.monotonic()))
        except (JudgeProcessError, HelperProcessError) as e:
            self.close()
            raise JudgeProcessError(f"the judge process could not start: {e}") from e
        if msg[0] != "ready":
            self.close()
            raise JudgeProcessError(f"the judge process could not start: {msg[1]}")
        if self._id and msg[1] != self._id:
            self.close()
            raise JudgeProcessError(f"the restarted judge process has id {msg[1]}, not {self._id}")
        self._id = msg[1]

    def _alive(self) -> bool:
        return self._child.alive()

    def _recv(self, timeout: float | None) -> Any:
        """The child's next message; raises :class:`JudgeProcessError` if it died or ``timeout`` passed."""
        try:
            return self._child.recv(timeout)
        except HelperProcessError as e:
            raise JudgeProcessError(str(e)) from None

    @property
    def id(self) -> str:
        """The child judge's id (labels are interchangeable with the in-process judge's)."""
        return self._id

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        """Judge ``queries`` in the child; ``on_label`` hears each label as the child reports it.

        Raises:
            JudgeConfigError: From the child's judge.
            JudgeProcessError: The child died mid-batch (a new one starts with the next call).
            RuntimeError: The child's judge raised (its traceback is the message).
        """
        if not self._alive():
            self.restarts += 1
            self._start()
        try:
            self._child.send(("judge", list(queries)))
        except HelperProcessError as e:
            raise JudgeProcessError(str(e)) from None
        while True:
            msg = self._recv(None)
            if msg[0] == "label":
                if on_label is not None:
                    on_label(queries[msg[1]], msg[2])
            elif msg[0] == "done":
                self._metrics = msg[2]
                return list(msg[1])
            elif msg[0] == "config_error":
                raise JudgeConfigError(msg[1])
            else:
                raise RuntimeError(f"the judge process failed:\n{msg[1]}")

    def metrics(self) -> dict[str, float]:
        """The child judge's metrics after its last batch, plus ``judge/process_restarts``."""
        return {**self._metrics, "judge/process_restarts": float(self.restarts)}

    def close(self) -> None:
        """Stop the child (at once if it does not stop by itself within 5 s)."""
        self._child.close()


def main(argv: Sequence[str] | None = None) -> None:
    """The child's entry point: connect back to the parent, then :func:`_serve`."""
    conn = connect_back(argv)
    _, judge_cfg, task_id, seed, threads = conn.recv()
    _serve(conn, judge_cfg, task_id, seed, threads)


if __name__ == "__main__":
    main()
