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
    """

    outcome: str
    text: str
    n_images: int
    body: Mapping[str, Any]
    t: float
    has_auth: bool = False


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
