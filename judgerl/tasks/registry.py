"""Task registry: task ids to ``TaskSpec`` objects.

Built-in tasks register themselves when ``judgerl.tasks`` is imported; other
modules (e.g. custom environments) call ``register_task`` on import too.
"""

from __future__ import annotations

import difflib

from judgerl.types import TaskSpec

_REGISTRY: dict[str, TaskSpec] = {}


class UnknownTaskError(KeyError, ValueError):
    """A task id that is not registered.

    Subclasses both ``KeyError`` (a failed lookup) and ``ValueError`` (a bad
    configuration value) so callers can catch whichever suits them.
    """

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes.
        return str(self.args[0]) if self.args else ""


def register_task(spec: TaskSpec, overwrite: bool = False) -> None:
    """Add a task to the registry.

    Args:
        spec: The task; ``spec.id`` is its registry name.
        overwrite: Replace an existing task with the same id.

    Raises:
        ValueError: When a different task is already registered under the id
            (re-registering the very same object is a no-op).
    """
    if not spec.id:
        raise ValueError("a task needs a non-empty id, e.g. 'pendulum/swingup-v0'")
    old = _REGISTRY.get(spec.id)
    if old is not None and old is not spec and not overwrite:
        raise ValueError(f"task {spec.id!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[spec.id] = spec


def get_task(task_id: str) -> TaskSpec:
    """Look a task up by id.

    Args:
        task_id: Registry name, e.g. ``"cartpole/balance-v0"``.

    Returns:
        The registered ``TaskSpec``.

    Raises:
        UnknownTaskError: When no task has this id; the message lists the
            available ids and suggests the closest one.
    """
    try:
        return _REGISTRY[task_id]
    except KeyError:
        pass
    ids = sorted(_REGISTRY)
    close = difflib.get_close_matches(task_id, ids, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownTaskError(
        f"unknown task {task_id!r}.{hint} Available tasks: {', '.join(ids) or '(none)'} (`judgerl tasks` lists them)."
    )


def list_tasks() -> list[TaskSpec]:
    """All registered tasks, sorted by id."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]
