"""Defect 11: transport and key checks of the chat client, before any work starts."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from judgerl.config import ConfigError, JudgeConfig, load_config, validate_references
from judgerl.judges.client_checks import InsecureTransportWarning, check_client_config, is_loopback
from judgerl.judges.llm import ChatJudge, build_chat_judge
from judgerl.testing.fixtures import tiny_task

ENV = "JUDGERL_CHECKS_KEY"


def _judge(base_url: str, **client: Any) -> JudgeConfig:
    return JudgeConfig.model_validate(
        {"type": "openai", "client": {"base_url": base_url, "model": "m", "api_key_env": ENV, **client}}
    )


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "127.3.2.1", "[::1]", "0.0.0.0", "api.localhost", "LOCALHOST."]
)
def test_loopback_servers_need_neither_https_nor_a_key(host: str) -> None:
    assert is_loopback(host.strip("[]"))
    assert check_client_config(_judge(f"http://{host}:8080/v1")) == []


@pytest.mark.parametrize("host", ["10.0.0.5", "192.168.1.20", "gpu-box", "api.openai.com", "127.0.0.1.nip.io"])
def test_plain_http_to_a_remote_host_is_refused_unless_allowed(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "sk-x")
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match=r"plain http:// .*judge\.client\.allow_insecure_http=true"):
        check_client_config(_judge(f"http://{host}/v1"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = check_client_config(_judge(f"http://{host}/v1", allow_insecure_http=True))
    assert len(found) == 1 and "unencrypted" in found[0]
    assert [w.category for w in caught] == [InsecureTransportWarning]
    assert check_client_config(_judge(f"https://{host}/v1")) == []


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_remote_server_without_its_key_is_refused_naming_the_variable(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is not None:
        monkeypatch.setenv(ENV, value)
    with pytest.raises(ConfigError, match=f"judge.client.api_key_env: the environment variable {ENV} is not set"):
        check_client_config(_judge("https://api.openai.com/v1"))
    assert check_client_config(_judge("https://api.openai.com/v1", api_key_env="")) == []  # declared keyless
    monkeypatch.setenv(ENV, "sk-live")
    assert check_client_config(_judge("https://api.openai.com/v1")) == []


def test_malformed_urls_and_content_free_without_logprobs_are_refused() -> None:
    with pytest.raises(ConfigError, match="not an http"):
        check_client_config(_judge("api.openai.com/v1"))
    cfg = JudgeConfig.model_validate({"type": "openai", "calibration": "content_free", "client": {"logprobs": False}})
    with pytest.raises(ConfigError, match="logprobs=true"):
        check_client_config(cfg)
    with pytest.raises(ValueError, match="logprobs=true"):
        ChatJudge(cfg.client, calibration="content_free")


def test_every_way_in_checks_before_any_work() -> None:
    with pytest.raises(ConfigError, match=ENV):
        build_chat_judge(_judge("https://api.example.com/v1"), tiny_task(), seed=0)
    cfg = load_config(
        None,
        ["judge.type=openai", "judge.client.base_url=http://10.1.2.3:8000/v1", f"judge.client.api_key_env={ENV}"],
    )
    with pytest.raises(ConfigError, match="allow_insecure_http"):
        validate_references(cfg)
