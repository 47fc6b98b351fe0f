"""What a non-2xx answer from a chat server means: retry, give up, drop an option, or stop the run.

Status classes (per attempt):

- 429, 408, 409, 5xx: transient, retried with backoff (``rate_limited``,
  ``server_error``).
- 400, 422: ``bad_request``. When the error names a request option that was
  sent (``logprobs``, ``response_format``), the server lacks that feature and
  only that option is dropped; any other 400 (a prompt over the context
  length, a bad value) is a plain permanent failure of that one request.
- 401, 403, 407 (``auth``), 404, 405, 410 (``not_found``), 3xx
  (``redirect``): configuration errors. Every request of the run would get
  the same answer, so the run stops with a message naming the likely cause
  (wrong or missing key, no access to the model, wrong model name or
  ``base_url``, a URL that moved) and nothing final is stored: after the fix,
  the next run asks the same queries again.
- any other 4xx: a permanent failure of that request (``client_error``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from judgerl.judges.config import ClientConfig

CONFIG_KINDS = frozenset({"auth", "not_found", "redirect"})
"""Outcome kinds that stop the run: the configuration, not the query, is wrong."""

# Words in a 400's error message or ``param`` that name a request option.
_OPTION_HINTS: dict[str, tuple[str, ...]] = {
    "logprobs": ("logprob",),  # logprobs, top_logprobs
    "json_mode": ("response_format", "json_object", "json mode", "json_mode", "json_schema"),
}


def classify_status(status: int) -> str:
    """The outcome kind of a non-2xx HTTP status (see the module docstring).

    Args:
        status: HTTP status code, 300 or more.

    Returns:
        ``rate_limited``, ``server_error``, ``bad_request``, ``auth``,
        ``not_found``, ``redirect`` or ``client_error``.
    """
    if status == 429:
        return "rate_limited"
    if status >= 500 or status in (408, 409):
        return "server_error"
    if status in (400, 422):
        return "bad_request"
    if status in (401, 403, 407):
        return "auth"
    if status in (404, 405, 410):
        return "not_found"
    if 300 <= status < 400:
        return "redirect"
    return "client_error"


def error_detail(body: str) -> str:
    """The error message and ``param`` of an OpenAI-style JSON error body, lower-cased.

    Only these two fields are searched for option names: a server that echoes
    the whole request back in its error must not make every option look named.

    Args:
        body: The response text.

    Returns:
        ``"<message> <param>"`` when the body is ``{"error": {...}}`` (or
        ``{"detail": ...}``, FastAPI servers), else the raw text; lower-case.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return body.lower()
    err = data.get("error", data) if isinstance(data, Mapping) else data
    if isinstance(err, Mapping):
        parts = [err.get("message"), err.get("param"), err.get("detail")]
        return " ".join(str(p) for p in parts if p).lower()
    return str(err).lower()


def named_options(detail: str, sent: Mapping[str, bool]) -> list[str]:
    """The request options a 400 names, among those that were sent.

    Args:
        detail: :func:`error_detail` of the answer.
        sent: ``{"logprobs": sent?, "json_mode": sent?}``.

    Returns:
        Option names to drop, possibly empty (then the 400 is about something else).
    """
    return [name for name, on in sent.items() if on and any(h in detail for h in _OPTION_HINTS[name])]


def config_error_message(
    kind: str, status: int, cfg: ClientConfig, snippet: str, key_set: bool, location: str = "", url: str = ""
) -> str:
    """A one-line message for a configuration error, naming the likely cause and the fix.

    Args:
        kind: ``auth``, ``not_found`` or ``redirect``.
        status: The HTTP status.
        cfg: The client configuration (its ``base_url``, ``model``, ``api_key_env``).
        snippet: The start of the server's answer, already redacted.
        key_set: Whether the key's environment variable was set.
        location: The ``Location`` header of a redirect (redacted).
        url: The endpoint that answered (one of several replicas); default ``cfg.base_url``.

    Returns:
        The message; it never contains the key.
    """
    said = f" Server said: {snippet.strip()}" if snippet.strip() else ""
    url = url or str(cfg.base_url)
    where = f"HTTP {status} from {url}"
    if kind == "auth" and status == 403:
        return (
            f"{where}: permission denied -- the API key in ${cfg.api_key_env} is not allowed to use model "
            f"{cfg.model!r} (check the key's project/organisation access, or judge.client.model).{said}"
        )
    if kind == "auth":
        state = "is set" if key_set else "is NOT set"
        return (
            f"{where}: authentication failed -- wrong, expired or missing API key. judgerl reads it from the "
            f"environment variable {cfg.api_key_env} (judge.client.api_key_env), which {state}; fix it and run "
            f"again (nothing was stored for these queries).{said}"
        )
    if kind == "not_found":
        return (
            f"{where}: not found -- check judge.client.model ({cfg.model!r}: is it served there?) and "
            f"judge.client.base_url ({url}: it usually ends in /v1).{said}"
        )
    return (
        f"{where}: redirect to {location or 'an unnamed location'} -- judgerl does not follow redirects (the "
        f"request carries the API key); set judge.client.base_url to the final URL (often https:// "
        f"instead of http://)."
    )


def logprobs_missing_message(cfg: ClientConfig, why: str) -> str:
    """Message for a server that gives no ``logprobs`` while the judge scores with them.

    Args:
        cfg: The client configuration.
        why: How it showed (``it rejected them: HTTP 400 ...``, ``its answers carry none``).
    """
    return (
        f"judge.client.logprobs: the server at {cfg.base_url} gives no log-probs for model {cfg.model!r} "
        f"({why}); this judge scores yes/no answers by their log-probs. Use a server that returns them, or "
        f"set judge.client.logprobs=false to score from the answer text (yes=1, no=0; another judge id, so the "
        f"two scales never mix in one reward model)."
    )
