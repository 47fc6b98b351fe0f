"""ChatClient against the fake server: retries, faults, capabilities, secrets, images."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import io
import random
import time
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from judgerl.config import ClientConfig, PriceConfig
from judgerl.judges.client import ChatClient, ChatResult, _parse_logprobs
from judgerl.judges.client_media import estimate_prompt_tokens, image_part, image_tokens, strip_private
from judgerl.judges.client_retry import backoff_delay, parse_retry_after
from judgerl.testing.fake_openai import FakeOpenAIServer, answered_prompts

KEY_ENV = "JUDGERL_TEST_KEY"
SECRET = "sk-test-SECRET-4f9a1c"


def _cfg(base_url: str, **kw: Any) -> ClientConfig:
    defaults: dict[str, Any] = {"timeout_s": 1.0, "backoff_base_s": 0.01, "max_retries": 3, "api_key_env": KEY_ENV}
    return ClientConfig.model_validate({"base_url": base_url, "model": "m", **defaults, **kw})


def _chat(client: ChatClient, n: int = 1, **kw: Any) -> list[ChatResult]:
    async def go() -> list[ChatResult]:
        async with client:
            msgs = [[{"role": "user", "content": f"question {i}"}] for i in range(n)]
            return list(await asyncio.gather(*(client.chat(m, **kw) for m in msgs)))

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def test_ok_answer_with_usage_and_cost() -> None:
    with FakeOpenAIServer(responder=lambda r: "yes" * 4) as srv:
        price = PriceConfig.model_validate({"input_per_mtok": 2.0, "output_per_mtok": 10.0})
        (res,) = _chat(ChatClient(_cfg(srv.base_url), price))
    assert res.ok and res.text == "yesyesyesyes" and res.finish_reason == "stop"
    assert (res.tokens_in, res.tokens_out, res.retries) == (3 + 4, 3, 0)
    assert res.cost_usd == pytest.approx((7 * 2.0 + 3 * 10.0) / 1e6)
    assert res.latency_s > 0


def test_429_retry_after_is_honoured() -> None:
    with FakeOpenAIServer(script=["rate_limit"], retry_after_s=0.4) as srv:
        t0 = time.monotonic()
        (res,) = _chat(ChatClient(_cfg(srv.base_url)))
        elapsed = time.monotonic() - t0
        gap = srv.records[1].t - srv.records[0].t
    assert res.ok and res.retries == 1
    assert elapsed >= 0.4 and gap >= 0.38  # backoff base is 0.01 s: only Retry-After explains the wait
    assert srv.stats == {"requests": 2, "rate_limit": 1, "ok": 1}


def test_500_is_retried() -> None:
    with FakeOpenAIServer(script=["server_error", "server_error"]) as srv:
        (res,) = _chat(ChatClient(_cfg(srv.base_url)))
    assert res.ok and res.retries == 2 and srv.stats["server_error"] == 2


def test_timeouts_are_retried_then_fail_transiently() -> None:
    with FakeOpenAIServer(script=["timeout"] * 3, hang_s=1.0) as srv:
        (res,) = _chat(ChatClient(_cfg(srv.base_url, timeout_s=0.2, max_retries=2)))
        assert srv.stats == {"requests": 3, "timeout": 3}
    assert not res.ok and res.transient and "timeout" in res.error and res.retries == 2


def test_timeout_then_success() -> None:
    with FakeOpenAIServer(script=["timeout"], hang_s=1.0) as srv:
        (res,) = _chat(ChatClient(_cfg(srv.base_url, timeout_s=0.2)))
    assert res.ok and res.retries == 1


def test_malformed_json_is_retried_then_transient() -> None:
    with FakeOpenAIServer(script=["malformed"]) as srv:
        (res,) = _chat(ChatClient(_cfg(srv.base_url)))
    assert res.ok and res.retries == 1
    with FakeOpenAIServer(script=["malformed"]) as srv:
        (res,) = _chat(ChatClient(_cfg(srv.base_url, max_retries=0)))
    assert not res.ok and res.transient and "malformed" in res.error


def test_content_faults_are_returned_for_the_judge() -> None:
    script = ["refusal", "truncated", "empty"]
    with FakeOpenAIServer(script=script, responder=lambda r: "abcdefgh") as srv:
        client = ChatClient(_cfg(srv.base_url, concurrency=1))
        results = [_chat(client)[0] for _ in script]
    refusal, truncated, empty = results
    assert refusal.ok and refusal.refusal and refusal.text == ""
    assert truncated.ok and truncated.finish_reason == "length" and truncated.text == "abcd"
    assert empty.ok and empty.text == "" and all(r.retries == 0 for r in results)


def test_connection_refused_is_transient() -> None:
    srv = FakeOpenAIServer()
    url = srv.base_url
    srv.stop()  # the port is now closed
    (res,) = _chat(ChatClient(_cfg(url, max_retries=2)))
    assert not res.ok and res.transient and "connection" in res.error and res.retries == 2


def test_a_server_down_for_less_than_the_retries_answers_once_and_in_flight_answers_are_resent() -> None:
    """The server goes down with requests in flight and comes back on the same port while the client
    retries: every request ends ok, and each prompt got exactly one delivered answer (none paid twice)."""
    with FakeOpenAIServer(latency_s=0.2) as srv:
        srv.outage(0.1, 0.6, after_first_request=True)
        results = _chat(ChatClient(_cfg(srv.base_url, max_retries=6, backoff_base_s=0.1, backoff_max_s=0.4)), n=4)
        # The server marks an answer delivered after its write returns, which can be just after the client
        # has read it: wait (bounded) for the log to settle. A prompt paid twice never settles to 1.
        deadline = time.monotonic() + 2.0
        while answered_prompts(srv.records) != {f"question {i}": 1 for i in range(4)} and time.monotonic() < deadline:
            time.sleep(0.01)
        records = list(srv.records)
    assert all(r.ok for r in results) and sum(r.retries for r in results) >= 4
    assert {r.text for r in records if not r.delivered} == {f"question {i}" for i in range(4)}  # lost in the outage
    assert answered_prompts(records) == {f"question {i}": 1 for i in range(4)}


def test_rejected_logprobs_are_dropped_once_and_remembered() -> None:
    with FakeOpenAIServer(reject_params=("logprobs", "response_format")) as srv:
        client = ChatClient(_cfg(srv.base_url, concurrency=1))
        first = _chat(client, logprobs=True, top_logprobs=5)[0]
        second = _chat(client, logprobs=True, top_logprobs=5, json_mode=True)[0]
        third = _chat(client, logprobs=True, json_mode=True)[0]
        assert srv.stats == {"requests": 5, "bad_request": 2, "ok": 3}
        assert "logprobs" not in srv.records[-1].body and "response_format" not in srv.records[-1].body
    assert first.ok and first.dropped_params == ("logprobs",) and first.retries == 1 and not first.logprobs
    assert second.ok and second.dropped_params == ("json_mode",)
    assert third.ok and third.retries == 0 and client.unsupported == {"logprobs", "json_mode"}


def test_other_client_errors_are_permanent() -> None:
    def teapot(request: httpx.Request) -> httpx.Response:
        return httpx.Response(413, text="payload too large")

    client = ChatClient(_cfg("http://127.0.0.1:9/v1"), transport=httpx.MockTransport(teapot))
    (res,) = _chat(client)
    assert not res.ok and not res.transient and not res.config_error and "413" in res.error
    assert res.retries == 0 and res.requests == 1 and not client.stop_reason


@pytest.mark.parametrize(
    ("fault", "status", "hint"),
    [
        ("unauthorized", 401, "JUDGERL_TEST_KEY (judge.client.api_key_env), which is NOT set"),
        ("forbidden", 403, "permission denied"),
        ("not_found", 404, "judge.client.model ('m'"),
        ("redirect", 301, "set judge.client.base_url to the final URL"),
    ],
)
def test_configuration_errors_halt_the_client_after_one_request(fault: str, status: int, hint: str) -> None:
    """Defect 1: 401/403/404/3xx are configuration errors: named cause, no retry, nothing more sent."""
    with FakeOpenAIServer(script=[fault] * 10) as srv:
        client = ChatClient(_cfg(srv.base_url, concurrency=1))
        results = _chat(client, n=5)
        assert srv.stats == {"requests": 1, fault: 1}  # the four others were never sent
    first = next(r for r in results if r.requests == 1)
    assert f"HTTP {status}" in first.error and hint in first.error and not first.transient
    assert all(r.config_error and not r.ok and r.error == first.error for r in results)
    assert sum(r.requests for r in results) == 1 and client.stop_reason == first.error
    if fault == "redirect":
        assert f"to https://127.0.0.1:{srv.port}/v1/chat/completions" in first.error


def test_a_config_error_never_shows_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)

    def moved(request: httpx.Request) -> httpx.Response:  # a redirect that echoes the key in its target
        return httpx.Response(302, headers={"location": f"https://x/?k={SECRET}"}, text=SECRET)

    (res,) = _chat(ChatClient(_cfg("http://127.0.0.1:9/v1"), transport=httpx.MockTransport(moved)))
    assert res.config_error and SECRET not in res.error and "***" in res.error and "is set" not in res.error


def test_a_400_that_names_no_option_drops_nothing() -> None:
    """Defect 10: a context-length 400 is a plain failure; logprobs and JSON mode stay on."""
    with FakeOpenAIServer(script=["context_length"]) as srv:
        client = ChatClient(_cfg(srv.base_url, concurrency=1))
        (first,) = _chat(client, logprobs=True, top_logprobs=5, json_mode=True)
        (second,) = _chat(client, logprobs=True, top_logprobs=5, json_mode=True)
        assert srv.stats == {"requests": 2, "context_length": 1, "ok": 1}
        assert srv.records[-1].body["logprobs"] and srv.records[-1].body["response_format"]
    assert not first.ok and not first.transient and not first.config_error and "maximum context" in first.error
    assert first.dropped_params == () and first.requests == 1 and client.unsupported == set()
    assert second.ok and second.logprobs


def test_required_logprobs_rejected_is_a_config_error_without_a_resend() -> None:
    with FakeOpenAIServer(reject_params=("logprobs",)) as srv:
        client = ChatClient(_cfg(srv.base_url, concurrency=1))
        (res,) = _chat(client, logprobs=True, top_logprobs=5, logprobs_required=True)
        assert srv.stats == {"requests": 1, "bad_request": 1}
    assert res.config_error and "judge.client.logprobs=false" in res.error and res.requests == 1
    assert client.unsupported == {"logprobs"}


def test_key_from_env_is_sent_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    with FakeOpenAIServer(api_key=SECRET) as srv:
        client = ChatClient(_cfg(srv.base_url))
        (res,) = _chat(client)
        assert res.ok and srv.records[0].has_auth
    assert SECRET not in repr(vars(client)) and SECRET not in repr(res)

    def echo(request: httpx.Request) -> httpx.Response:  # a server that echoes the header back
        return httpx.Response(401, text=f"bad key {request.headers['authorization']}")

    client = ChatClient(_cfg("http://127.0.0.1:9/v1"), transport=httpx.MockTransport(echo))
    (res,) = _chat(client)
    assert "401" in res.error and SECRET not in res.error and "***" in res.error


def test_missing_key_sends_no_authorization_header() -> None:
    with FakeOpenAIServer() as srv:
        (res,) = _chat(ChatClient(_cfg(srv.base_url)))
        assert res.ok and not srv.records[0].has_auth


def test_chat_outside_session_raises() -> None:
    client = ChatClient(_cfg("http://127.0.0.1:9/v1"))
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(client.chat([{"role": "user", "content": "x"}]))


def test_parse_retry_after_forms() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(7.0)
    assert parse_retry_after({"retry-after": date}, now=now + 60) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_full_jitter_bounds() -> None:
    rng = random.Random(0)
    d = [backoff_delay(3, 0.5, 30.0, None, rng) for _ in range(500)]
    assert min(d) >= 0.0 and max(d) <= 2.0 and 0.8 < float(np.mean(d)) < 1.2  # uniform on [0, 0.5 * 2**2]
    assert all(backoff_delay(20, 0.5, 3.0, None, rng) <= 3.0 for _ in range(100))
    assert all(backoff_delay(1, 0.01, 30.0, 1.5, rng) >= 1.5 for _ in range(100))
    assert backoff_delay(1, 0.01, 2.0, 100.0, rng) == 2.0


def test_logprob_payload_parsing() -> None:
    choice = {
        "logprobs": {
            "content": [
                {
                    "token": "Yes",
                    "logprob": -0.1,
                    "top_logprobs": [{"token": "Yes", "logprob": -0.1}, {"token": "No", "logprob": -2.4}],
                },
                {"token": ".", "logprob": -0.01, "top_logprobs": []},
            ]
        }
    }
    parsed = _parse_logprobs(choice)
    assert parsed[0].token == "Yes" and parsed[0].top == (("Yes", -0.1), ("No", -2.4)) and parsed[1].top == ()
    assert _parse_logprobs({"logprobs": None}) == ()


def test_image_part_resizes_and_encodes() -> None:
    frame = np.random.default_rng(0).integers(0, 255, (120, 300, 3), dtype=np.uint8)
    part = image_part(frame, "png", 100, "low")
    url = part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and part["image_url"]["detail"] == "low"
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert img.size == (100, 40) and part["_size"] == (100, 40)
    jpeg = image_part(frame, "jpeg", 500)
    assert jpeg["image_url"]["url"].startswith("data:image/jpeg;base64,") and jpeg["_size"] == (300, 120)
    assert "_size" not in strip_private([{"role": "user", "content": [part]}])[0]["content"][0]
    with pytest.raises(ValueError):
        image_part(np.zeros((4, 4), np.uint8))


def test_image_token_estimates_follow_openai_rules() -> None:
    assert image_tokens(4000, 3000, "low") == 85
    assert image_tokens(1024, 1024, "high") == 765  # OpenAI's worked example: 768x768, 4 tiles
    assert image_tokens(2048, 4096, "high") == 1105  # -> 1024x2048 -> 768x1536, 6 tiles
    assert image_tokens(512, 512, "auto") == 255  # auto counted as high: 1 tile
    frame = np.zeros((64, 64, 3), np.uint8)
    msgs = [{"role": "user", "content": [{"type": "text", "text": "abcdefgh"}, image_part(frame, detail="high")]}]
    assert estimate_prompt_tokens(msgs) == 4 + 2 + 255
