"""SB3 policy choice and policy arguments from a config: classes named by import path.

YAML cannot hold a Python class, so ``agent.policy_kwargs`` names one as
``"module:Name"`` (``features_extractor_class: judgerl.envs.homegrid_policy:HomegridCNN``,
``activation_fn: torch.nn:Tanh``); :func:`resolve_policy_kwargs` imports it.
"""

from __future__ import annotations

import importlib
from typing import Any

from gymnasium import spaces

# Keys whose value is a class or callable (SB3 policy arguments).
_CLASS_KEYS = ("activation_fn", "optimizer_class", "features_extractor_class", "share_features_extractor_class")


def import_path(path: str) -> Any:
    """The object ``"package.module:Name"`` names.

    Raises:
        ValueError: Malformed path, missing module or missing attribute (the message names the fix).
    """
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{path!r} is not an import path; write it as 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import {module_name!r} (from {path!r}): {e}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{module_name!r} has no {attr!r} (from {path!r})")
        obj = getattr(obj, part)
    return obj


def resolve_policy_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``kwargs`` with import-path strings under class keys replaced by the objects.

    Raises:
        ValueError: An import path that does not resolve.
    """
    out = dict(kwargs)
    for key, value in kwargs.items():
        if isinstance(value, str) and (key in _CLASS_KEYS or key.endswith("_class")):
            out[key] = import_path(value)
    return out


def resolve_policy(policy: str, observation_space: spaces.Space[Any]) -> str:
    """The SB3 policy name: ``auto`` picks ``MultiInputPolicy`` for ``Dict`` observations, else ``MlpPolicy``.

    Raises:
        ValueError: ``MultiInputPolicy`` asked for non-Dict observations or the reverse.
    """
    is_dict = isinstance(observation_space, spaces.Dict)
    if policy == "auto":
        return "MultiInputPolicy" if is_dict else "MlpPolicy"
    if is_dict and policy != "MultiInputPolicy":
        raise ValueError(f"agent.policy: Dict observations need MultiInputPolicy, not {policy}")
    if not is_dict and policy == "MultiInputPolicy":
        raise ValueError("agent.policy: MultiInputPolicy needs Dict observations; use MlpPolicy or CnnPolicy")
    return policy


def merge_policy_kwargs(tuned: dict[str, Any] | None, user: dict[str, Any]) -> dict[str, Any]:
    """The task's tuned policy arguments with the user's on top (a user key replaces the tuned one)."""
    return {**(tuned or {}), **user}
