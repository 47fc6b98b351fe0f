"""Run a chat judge's event loop from synchronous code, reporting labels in the caller's thread.

Split from ``llm.py``; used by :class:`~judgerl.judges.llm.ChatJudge`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from judgerl.judges.base import OnLabel
from judgerl.types import Label


def run_here(make: Callable[[OnLabel], Coroutine[Any, Any, list[Label]]], on_label: OnLabel | None) -> list[Label]:
    """Run the coroutine ``make(emit)`` to completion, calling ``on_label`` in this thread.

    Normally the event loop runs in this thread. When one is already running
    here (e.g. Jupyter), ours runs in a helper thread and labels are handed
    back through a queue, so ``on_label`` still runs in the caller's thread.

    Args:
        make: Builds the coroutine from the ``emit`` callback it must call per label.
        on_label: The caller's callback (``None``: labels are only returned).

    Returns:
        What the coroutine returns; its exceptions are re-raised here.
    """
    callback: OnLabel = on_label if on_label is not None else (lambda q, lab: None)
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    if not running:  # outside the except block: an error of the judge is not chained to this RuntimeError
        return asyncio.run(make(callback))
    box: queue.Queue[tuple[str, Any]] = queue.Queue()

    def worker() -> None:
        try:
            box.put(("done", asyncio.run(make(lambda q, lab: box.put(("label", (q, lab)))))))
        except BaseException as e:  # re-raised in the caller's thread
            box.put(("error", e))

    thread = threading.Thread(target=worker, name="judgerl-chat-judge", daemon=True)
    thread.start()
    while True:
        kind, item = box.get()
        if kind == "label":
            callback(*item)
            continue
        thread.join()
        if kind == "error":
            raise item
        return item  # type: ignore[no-any-return]
