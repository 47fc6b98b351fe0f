"""Tasks stage: tasks described in words, and their registry.

Importing this package registers the built-in tasks.
"""

from judgerl.tasks.classic import CLASSIC_TASKS
from judgerl.tasks.homegrid import HOMEGRID_TASKS
from judgerl.tasks.humanoid import HUMANOID_TASKS
from judgerl.tasks.nethack import NETHACK_TASKS
from judgerl.tasks.registry import UnknownTaskError, get_task, list_tasks, register_task

for _spec in (*CLASSIC_TASKS, *HOMEGRID_TASKS, *NETHACK_TASKS, *HUMANOID_TASKS):
    register_task(_spec)

__all__ = ["UnknownTaskError", "get_task", "list_tasks", "register_task"]
