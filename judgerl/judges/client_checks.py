"""Checks of the chat client's transport and key, done before any work starts.

A run that would send its API key and prompts in clear text over a network,
or call a remote server without a key (every request answered 401), is
refused while nothing has been collected or paid for:

- ``base_url`` must be ``http(s)://host...``;
- plain ``http://`` to a host that is not loopback (``localhost``,
  ``127.0.0.0/8``, ``::1``) is an error unless
  ``judge.client.allow_insecure_http`` is true, and then a warning;
- a remote ``base_url`` needs the variable named by ``judge.client.api_key_env``
  to be set and non-empty (``api_key_env: ""`` declares a server without keys);
- ``calibration: content_free`` needs ``logprobs: true`` (it subtracts a log-prob margin).
"""

from __future__ import annotations

import ipaddress
import os
import warnings
from collections.abc import Mapping
from urllib.parse import urlsplit

from judgerl.configbase import ConfigError
from judgerl.judges.config import JudgeConfig


class InsecureTransportWarning(UserWarning):
    """A chat server is reached over plain http on a network (allowed by the config)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: ``localhost``, ``*.localhost``, a loopback or unspecified IP.

    Names are not resolved (no DNS lookup before a run starts).

    Args:
        host: A URL's host name or IP literal (no brackets).

    Returns:
        True for loopback hosts.
    """
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def check_client_config(cfg: JudgeConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """Refuse an insecure or keyless remote chat server before any work starts (see the module docstring).

    Each warning is also issued with :func:`warnings.warn` (category
    :class:`InsecureTransportWarning`, shown once per process).

    Args:
        cfg: The judge configuration (``type: openai``).
        environ: Environment to read the key variable from; default ``os.environ``.

    Returns:
        The warnings issued (empty when all is well).

    Raises:
        ConfigError: Naming the field and the fix.
    """
    env = os.environ if environ is None else environ
    c = cfg.client
    found: list[str] = []
    for base_url in c.urls:  # every endpoint of a replica list is held to the same rules
        found.extend(_check_url(base_url, cfg, env))
    if cfg.calibration == "content_free" and not c.logprobs:
        raise ConfigError(
            "judge.calibration: content_free subtracts a log-prob margin; set judge.client.logprobs=true "
            "or choose calibration none/median"
        )
    for text in found:
        warnings.warn(text, InsecureTransportWarning, stacklevel=1)  # one location: shown once per process
    return found


def _check_url(base_url: str, cfg: JudgeConfig, env: Mapping[str, str]) -> list[str]:
    """The transport and key checks for one endpoint; returns its warnings, raises :class:`ConfigError`."""
    c = cfg.client
    url = urlsplit(base_url)
    host = url.hostname or ""
    if url.scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"judge.client.base_url: {base_url!r} is not an http(s) URL with a host; "
            "e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1"
        )
    remote = not is_loopback(host)
    found: list[str] = []
    if url.scheme == "http" and remote:
        if not c.allow_insecure_http:
            raise ConfigError(
                f"judge.client.base_url: plain http:// to {host} would send the API key and every prompt "
                "unencrypted over the network; use https://, or set judge.client.allow_insecure_http=true "
                "on a network you trust"
            )
        found.append(
            f"judge.client.base_url: plain http:// to {host} (allowed by judge.client.allow_insecure_http): "
            "the API key and prompts travel unencrypted"
        )
    if remote and c.api_key_env and not env.get(c.api_key_env, "").strip():
        raise ConfigError(
            f"judge.client.api_key_env: the environment variable {c.api_key_env} is not set or empty, and "
            f"{host} is a remote server; export {c.api_key_env}=<your key>, name the variable that holds it "
            'in judge.client.api_key_env, or set judge.client.api_key_env: "" for a server that needs no key'
        )
    return found
