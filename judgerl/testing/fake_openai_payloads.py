"""What the fake OpenAI server answers: replies, request records, prompt text, log-prob payloads.

Split from ``fake_openai.py`` (the server and its fault injection) so each module has one role.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judgerl.judges.client_media import image_tokens

# HTTP error answers: kind -> (status, error message, error param). Configuration errors (401/403/404/3xx)
# and a 400 that names no request option (a prompt over the context length).
HTTP_FAULTS: dict[str, tuple[int, str, str | None]] = {
    "unauthorized": (401, "Incorrect API key provided.", None),
    "forbidden": (403, "You are not allowed to use this model (project does not have access).", None),
    "not_found": (404, "The model does not exist or you do not have access to it.", "model"),
    "redirect": (301, "Moved Permanently", None),
    "context_length": (
        400,
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9001 tokens.",
        "messages",
    ),
}
FAULT_KINDS = ("rate_limit", "server_error", "timeout", "malformed", "refusal", "truncated", "empty")
REFUSAL_TEXT = "I can't help with that."


@dataclass(frozen=True)
class Reply:
    """An answer with optional log-probs for its first token.

    Attributes:
        text: The message content.
        top_logprobs: ``(token, logprob)`` alternatives for the first token;
            ``None`` = the server makes some up (the answer at log 0.9).
    """

    text: str
    top_logprobs: Sequence[tuple[str, float]] | None = None


Responder = Callable[[dict[str, Any]], "str | Reply"]


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it.

    Attributes:
        outcome: ``ok``, a fault kind, ``bad_request`` or ``unauthorized``.
        text: All text parts of all messages, joined by newlines.
        n_images: Image parts in the request.
        body: The request JSON without messages (model, options).
        t: ``time.monotonic()`` at arrival.
        has_auth: Whether an ``Authorization`` header was sent.
        delivered: Whether the whole answer was written to the client's socket (``False`` while it is
            being served, and for good when the connection broke first, e.g. the server went down).
    """

    outcome: str
    text: str
    n_images: int
    body: Mapping[str, Any]
    t: float
    has_auth: bool = False
    delivered: bool = False


def answered_prompts(records: Sequence[RequestRecord]) -> Counter[str]:
    """How many times each prompt text got a delivered HTTP 200 answer (``ok`` or a content fault).

    The server's own evidence of what was paid: a prompt counted twice was answered (and billed) twice.

    Args:
        records: The server's request log (:attr:`FakeOpenAIServer.records`).

    Returns:
        ``{prompt text: delivered 200 answers}``.
    """
    paid = {"ok", "refusal", "truncated", "empty", "malformed", "timeout"}  # answered 200 (a timeout one late)
    return Counter(r.text for r in records if r.delivered and r.outcome in paid)


def request_text(request: Mapping[str, Any]) -> str:
    """All text of a chat request's messages, joined by newlines."""
    out: list[str] = []
    for msg in request.get("messages", []):
        content = msg.get("content", "")
        if isinstance(content, str):
            out.append(content)
        else:
            out.extend(str(p.get("text", "")) for p in content if p.get("type") == "text")
    return "\n".join(out)


def default_responder(request: Mapping[str, Any]) -> str:
    """A valid answer for judgerl's prompt formats: JSON verdict, ``A``, ``1`` (caption pairs), or ``yes``."""
    text = request_text(request).lower()
    if "json" in text and '"aligned"' in text:
        return json.dumps({"description": "The agent moves.", "reasoning": "Nothing harmful happens.", "aligned": True})
    if '"description_1"' in text and '"description_2"' in text:
        return "1"
    if "segment a" in text and "segment b" in text:
        return "A"
    return "yes"


def completion(
    reply: str | Reply, req: Mapping[str, Any], outcome: str, model: str, completion_id: str, refusal_in_content: bool
) -> dict[str, Any]:
    """An OpenAI chat completion carrying ``reply``, shaped by a content ``outcome`` (refusal, truncated, empty).

    Args:
        reply: The responder's answer.
        req: The request JSON (its options decide log-probs; its text the usage).
        outcome: ``ok`` or a content fault kind.
        model: Model name to report.
        completion_id: The completion's ``id``.
        refusal_in_content: Refuse in ``content`` instead of ``message.refusal``.

    Returns:
        The completion JSON with ``usage`` (prompt tokens at chars/4 plus images and 4 per message).
    """
    if isinstance(reply, str):
        reply = Reply(reply)
    text: str | None = reply.text
    refusal, finish = None, "stop"
    if outcome == "refusal":
        text, refusal = (REFUSAL_TEXT, None) if refusal_in_content else (None, REFUSAL_TEXT)
    elif outcome == "truncated":
        text, finish = reply.text[: len(reply.text) // 2], "length"
    elif outcome == "empty":
        text = ""
    _, img_tokens = _count_images(req)
    n_msgs = len(req.get("messages", []))
    prompt_tokens = math.ceil(len(request_text(req)) / 4) + img_tokens + 4 * n_msgs
    out_text = text if text is not None else (refusal or "")
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": text, "refusal": refusal},
        "finish_reason": finish,
        "logprobs": None,
    }
    if req.get("logprobs") and text:
        top = reply.top_logprobs if outcome == "ok" else None
        choice["logprobs"] = {"content": _logprob_content(text, top, int(req.get("top_logprobs") or 1))}
    completion_tokens = math.ceil(len(out_text) / 4)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _count_images(request: Mapping[str, Any]) -> tuple[int, int]:
    """``(image parts, image prompt tokens)``, decoding data URLs for their size."""
    n, tokens = 0, 0
    for msg in request.get("messages", []):
        content = msg.get("content", "")
        for part in content if isinstance(content, list) else []:
            if part.get("type") != "image_url":
                continue
            n += 1
            url = str(part.get("image_url", {}).get("url", ""))
            detail = part.get("image_url", {}).get("detail", "auto")
            size = (512, 512)
            if url.startswith("data:") and "," in url:
                from PIL import Image

                # an undecodable image still counts, at a default size
                with contextlib.suppress(Exception):
                    size = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size
            tokens += image_tokens(size[0], size[1], detail)
    return n, tokens


def _logprob_content(text: str, top: Sequence[tuple[str, float]] | None, k: int) -> list[dict[str, Any]]:
    """OpenAI ``logprobs.content``: one entry per whitespace-led piece of ``text``."""
    pieces = re.findall(r"\s*\S+", text) or []
    out = []
    for i, piece in enumerate(pieces):
        if i == 0 and top is not None:
            alts = sorted(top, key=lambda t: -t[1])
        elif i == 0:
            word = piece.strip().lower()
            other = {"yes": "no", "no": "yes", "a": "B", "b": "A"}.get(word)
            alts = [(piece, math.log(0.9))] + ([(other, math.log(0.08))] if other else [])
        else:
            alts = [(piece, -0.01)]
        own = next((lp for tok, lp in alts if tok == piece), max(lp for _, lp in alts))
        out.append(
            {
                "token": piece,
                "logprob": own,
                "bytes": list(piece.encode()),
                "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in alts[:k]],
            }
        )
    return out
