"""Tests of optional components: skip with the install command, or fail under `make test`.

`make demo` installs no optional component beyond ``embed``, so a developer's ``pytest`` may run
without ``nle``, llama-cpp-python or the packaged GGUF and skips those tests, naming the command that
installs each. `make test` installs every component first and sets ``JUDGERL_REQUIRE_OPTIONAL=1``:
there a missing component is a broken install, and a skip would let CI pass without running the
tests, so it fails instead.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

from judgerl.install_hints import install_hint

REQUIRE_ENV = "JUDGERL_REQUIRE_OPTIONAL"


def optional_required() -> bool:
    """Whether a missing optional component fails the test run (`make test` sets ``JUDGERL_REQUIRE_OPTIONAL=1``)."""
    return os.environ.get(REQUIRE_ENV, "") == "1"


def skip_missing(reason: str) -> NoReturn:
    """Skip the test because an optional component is missing; fail instead when they are required.

    Args:
        reason: What is missing and the command that installs it.
    """
    if optional_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: `make test` installs every optional component)", pytrace=False)
    pytest.skip(reason)


def importorskip(module: str, extra: str) -> ModuleType:
    """``pytest.importorskip`` whose reason names the install command, failing under `make test`.

    Args:
        module: Module to import, e.g. ``"nle"``.
        extra: The component that installs it (``embed``, ``clip``, ``nethack``, ``dev`` or ``gguf``).

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        skip_missing(f"{module} is not installed ({e}): {install_hint(extra)}")
