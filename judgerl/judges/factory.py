"""Build a judge from its config through a registry of judge types.

Each judge type is a builder ``(cfg, task, seed) -> Judge``. Other judge
modules add theirs with ``register_judge_type`` (a callable, or a lazy
``"module:function"`` string so that heavy optional dependencies are imported
only when that type is built); ``make_judge`` looks the type up and wraps the
result in ``BothOrders`` when ``cfg.both_orders`` is set.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from judgerl.config import JudgeConfig
from judgerl.forms.base import ValueScale
from judgerl.judges.base import Judge
from judgerl.judges.both_orders import BothOrders
from judgerl.judges.oracle import OracleJudge
from judgerl.judges.scripted import scripted_from_true_return
from judgerl.types import TaskSpec

JudgeBuilder = Callable[[JudgeConfig, TaskSpec, int], Judge]


class JudgeUnavailableError(RuntimeError):
    """A judge type cannot be built here: a missing optional dependency, model file or server.

    Builders raise it with a message naming the fix (e.g. the pip extra to install).
    """


def _build_oracle(cfg: JudgeConfig, task: TaskSpec, seed: int) -> Judge:
    """Oracle judge with the configured noise models."""
    return OracleJudge(cfg.oracle, seed=seed)


def _build_scripted(cfg: JudgeConfig, task: TaskSpec, seed: int) -> Judge:
    """Scripted judge preferring the higher true return, sleeping ``cfg.delay_s`` per query."""
    return scripted_from_true_return(delay_s=cfg.delay_s, seed=seed)


# Lazy "module:function" entries keep heavy optional dependencies out of the
# import of this module; add one line per judge type that judgerl ships.
_REGISTRY: dict[str, JudgeBuilder | str] = {
    "oracle": _build_oracle,
    "scripted": _build_scripted,
    "embedding": "judgerl.judges.zero_shot:build_embedding_judge",
    "clip": "judgerl.judges.zero_shot:build_clip_judge",
    "openai": "judgerl.judges.llm:build_chat_judge",
    "gguf": "judgerl.judges.gguf:build_gguf_judge",
}


def register_judge_type(name: str, builder: JudgeBuilder | str, replace: bool = False) -> None:
    """Make ``make_judge`` able to build judges of type ``name``.

    Args:
        name: The ``JudgeConfig.type`` value, e.g. ``"openai"``.
        builder: ``(cfg, task, seed) -> Judge``, or ``"package.module:function"``
            naming one, imported on first use.
        replace: Allow overwriting an existing registration.

    Raises:
        ValueError: ``name`` is already registered and ``replace`` is False.
    """
    if name in _REGISTRY and not replace and _REGISTRY[name] != builder:
        raise ValueError(f"judge type {name!r} is already registered; pass replace=True to override it")
    _REGISTRY[name] = builder


# What a judge type's label ``value`` means (``judgerl.forms.base.ValueScale``); unlisted types answer
# probabilities or 0/1 verdicts. Forms that turn values into verdicts read it.
_VALUE_SCALES = {"gguf": "margin", "embedding": "similarity", "clip": "similarity"}


def value_scale(cfg: JudgeConfig, query_kind: str) -> ValueScale:
    """What the judge's ``value`` means for queries of ``query_kind``.

    Returns:
        ``margin`` (yes above 0) for a local model's yes/no margin, and for a chat
        judge that answers with the yes/no prompt scored by log-probs;
        ``similarity`` (no fixed cut) for embedding/CLIP scores; else
        ``probability`` (yes at ≥ 0.5: oracle verdicts, a chat model's JSON verdict).
    """
    if cfg.type == "openai":
        form = cfg.form or query_kind
        return "margin" if form == "pointwise" and cfg.client.logprobs else "probability"
    return _VALUE_SCALES.get(cfg.type, "probability")  # type: ignore[return-value]


def judge_types() -> tuple[str, ...]:
    """Names of all registered judge types, sorted."""
    return tuple(sorted(_REGISTRY))


def _resolve(name: str) -> JudgeBuilder:
    builder = _REGISTRY[name]
    if callable(builder):
        return builder
    module_name, _, attr = builder.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        # A missing third-party package is an environment problem; a broken
        # judgerl module is a bug and propagates.
        if e.name is None or e.name.split(".")[0] == "judgerl":
            raise
        raise JudgeUnavailableError(f"judge type {name!r} needs {module_name}, which failed to import: {e}") from e
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"judge type {name!r}: {builder!r} does not name a callable")
    _REGISTRY[name] = fn
    return fn  # type: ignore[no-any-return]


def make_judge(cfg: JudgeConfig, task: TaskSpec, seed: int) -> Judge:
    """Build the judge ``cfg`` describes.

    Args:
        cfg: Judge configuration (``cfg.type`` picks the builder).
        task: The task the judge will answer about.
        seed: Seed for the judge's randomness.

    Returns:
        The judge, wrapped in ``BothOrders(on_disagreement=cfg.on_disagreement)``
        when ``cfg.both_orders``.

    Raises:
        ValueError: Unknown judge type.
        JudgeUnavailableError: The type's optional dependencies are missing.
    """
    if cfg.type not in _REGISTRY:
        raise ValueError(f"unknown judge type {cfg.type!r}; known types: {', '.join(judge_types())}")
    judge = _resolve(cfg.type)(cfg, task, seed)
    if cfg.both_orders:
        judge = BothOrders(judge, on_disagreement=cfg.on_disagreement)
    return judge
