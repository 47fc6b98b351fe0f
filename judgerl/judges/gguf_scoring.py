"""Next-token yes/no scoring with llama-cpp-python: chat rendering, prefix reuse, log-prob margins.

The margin is ``log P(yes) − log P(no)`` of the first answer token, where
"yes" and "no" are sets of single-token spellings (``yes``, ``" yes"``,
``Yes``, ...) merged with logsumexp. It is read from the raw next-token logits
(``llama_get_logits_ith(ctx, -1)``; ``Llama.scores`` is not filled unless
``logits_all=True``), so no sampling happens and the softmax normaliser
cancels out of the difference.

Prompts to one judge share a long prefix (chat header, instruction); the
evaluator keeps the tokens currently in llama.cpp's KV cache and only evaluates
the suffix after the longest common prefix, as ``Llama.generate`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

YES_WORDS = ("yes", "Yes", "YES")
NO_WORDS = ("no", "No", "NO")


def answer_token_ids(tokenize: Callable[[str], list[int]], words: Sequence[str]) -> tuple[int, ...]:
    """Token ids of the single-token spellings of ``words``, with and without a leading space.

    Spellings that take several tokens (``YES`` → ``Y`` + ``ES``) are left out:
    their first token is not specific to the answer.

    Args:
        tokenize: Text to token ids, without BOS.
        words: Spellings, e.g. ``("yes", "Yes")``.

    Returns:
        Distinct token ids, in first-seen order.

    Raises:
        ValueError: No spelling is a single token.
    """
    ids: list[int] = []
    for w in words:
        for variant in (w, " " + w):
            toks = tokenize(variant)
            if len(toks) == 1 and toks[0] not in ids:
                ids.append(toks[0])
    if not ids:
        raise ValueError(f"none of {list(words)} is a single token for this model")
    return tuple(ids)


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x))
    return m + float(np.log(np.sum(np.exp(x - m))))


def margin_from_logits(logits: np.ndarray, yes_ids: Sequence[int], no_ids: Sequence[int]) -> float:
    """``log P(yes) − log P(no)`` in nats from next-token logits.

    Args:
        logits: Unnormalised next-token logits, shape ``(V,)``.
        yes_ids: Token ids counted as "yes".
        no_ids: Token ids counted as "no".

    Returns:
        The margin (positive = the model leans to yes).
    """
    x = np.asarray(logits, dtype=np.float64)
    return _logsumexp(x[list(yes_ids)]) - _logsumexp(x[list(no_ids)])


def render_chat(llama: Any, messages: list[dict[str, str]], chat_format: str | None) -> str:
    """The prompt text for ``messages``, ending where the assistant's answer starts.

    Uses, in order: the GGUF's own ``tokenizer.chat_template``, else the named
    llama.cpp ``chat_format`` (e.g. ``chatml``), else ChatML.

    Args:
        llama: A ``llama_cpp.Llama``.
        messages: OpenAI-style ``{"role", "content"}`` messages (text only).
        chat_format: Name of a llama.cpp chat format, or ``None``.

    Returns:
        The rendered prompt text (special tokens as text).

    Raises:
        ValueError: An unknown ``chat_format``.
    """
    from llama_cpp import llama_chat_format as lcf

    template = llama.metadata.get("tokenizer.chat_template")
    if template and chat_format is None:
        eos = llama._model.token_get_text(llama.token_eos())
        bos = llama._model.token_get_text(llama.token_bos()) if llama.token_bos() != -1 else ""
        formatter = lcf.Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        return str(formatter(messages=cast(Any, messages)).prompt)
    name = (chat_format or "chatml").replace("-", "_")
    fn = getattr(lcf, f"format_{name}", None) or getattr(lcf, f"format_{name.replace('_', '')}", None)
    if fn is None:
        raise ValueError(f"unknown llama.cpp chat_format {chat_format!r} (e.g. chatml, llama-2, mistral-instruct)")
    return str(fn(messages=messages).prompt)


class PrefixEvaluator:
    """Next-token logits for whole prompts, re-evaluating only what changed since the last one.

    Args:
        llama: A ``llama_cpp.Llama`` used by this evaluator alone.
        reuse_prefix: Keep the KV cache of the longest common token prefix.

    Attributes:
        evaluated: Tokens run through the model so far.
        reused: Tokens served from the KV cache so far.
    """

    def __init__(self, llama: Any, reuse_prefix: bool = True) -> None:
        self.llama = llama
        self.reuse_prefix = reuse_prefix
        self.evaluated = 0
        self.reused = 0

    def tokenize(self, text: str) -> list[int]:
        """Token ids of a rendered prompt (special tokens parsed, BOS as the model wants)."""
        add_bos = self.llama.metadata.get("tokenizer.ggml.add_bos_token", "true") == "true"
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def next_logits(self, tokens: Sequence[int]) -> np.ndarray:
        """Logits of the token after ``tokens``.

        Args:
            tokens: The prompt's token ids (must fit the context window).

        Returns:
            Logits, shape ``(V,)`` float32 (a copy).

        Raises:
            ValueError: Empty prompt, or longer than ``n_ctx``.
        """
        import llama_cpp

        llama = self.llama
        if not tokens:
            raise ValueError("empty prompt")
        if len(tokens) > llama.n_ctx():
            raise ValueError(f"prompt has {len(tokens)} tokens, more than n_ctx={llama.n_ctx()}")
        keep = 0
        if self.reuse_prefix:
            keep = longest_common_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens)
            keep = min(keep, len(tokens) - 1)  # the last token must run again to produce fresh logits
        llama.n_tokens = keep  # Llama.eval drops the KV cache from n_tokens on
        llama.eval(list(tokens[keep:]))
        self.reused += keep
        self.evaluated += len(tokens) - keep
        ptr = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(llama.n_vocab(),)).copy()


def longest_common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
