"""The fake OpenAI-compatible server: real socket, concurrency, faults, log-probs."""

from __future__ import annotations

import json
import math
import threading
import time

import httpx
import numpy as np
import pytest

from judgerl.judges.client_media import image_part
from judgerl.testing.fake_openai import FAULT_KINDS, FakeOpenAIServer, Reply, answered_prompts
from judgerl.testing.fake_openai_cli import main
from judgerl.testing.optional import importorskip


def _post(server: FakeOpenAIServer, body: dict, timeout: float = 5.0) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=timeout)


def _body(text: str = "Is it up? Answer yes or no.", **kw: object) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **kw}


def test_chat_completion_shape_and_usage() -> None:
    with FakeOpenAIServer(responder=lambda req: "yes") as srv:
        r = _post(srv, _body("x" * 40))
        data = r.json()
        assert r.status_code == 200
        choice = data["choices"][0]
        assert choice["message"]["content"] == "yes" and choice["finish_reason"] == "stop"
        assert data["usage"]["prompt_tokens"] == 40 // 4 + 4  # chars/4 + per-message overhead
        assert data["usage"]["completion_tokens"] == 1
        models = httpx.get(f"{srv.base_url}/models").json()
        assert models["data"][0]["id"] == "fake-model"
        assert srv.stats == {"requests": 1, "ok": 1}


def test_image_parts_are_counted() -> None:
    frame = np.zeros((64, 32, 3), np.uint8)
    part = {k: v for k, v in image_part(frame, detail="low").items() if not k.startswith("_")}
    body = {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "abcd"}, part, part]}]}
    with FakeOpenAIServer() as srv:
        data = _post(srv, body).json()
        assert data["usage"]["prompt_tokens"] == 1 + 2 * 85 + 4
        assert srv.records[0].n_images == 2


def test_concurrent_requests_overlap() -> None:
    """Eight requests of 0.3 s latency together take far less than 8 x 0.3 s."""
    with FakeOpenAIServer(latency_s=0.3) as srv:
        out: list[int] = []
        threads = [threading.Thread(target=lambda: out.append(_post(srv, _body()).status_code)) for _ in range(8)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
    assert out == [200] * 8
    assert 0.3 <= elapsed < 1.2


def test_logprobs_in_openai_format() -> None:
    top = [(" yes", math.log(0.6)), ("Yes", math.log(0.3)), ("no", math.log(0.1))]
    with FakeOpenAIServer(responder=lambda req: Reply("yes it is", top)) as srv:
        data = _post(srv, _body(logprobs=True, top_logprobs=2)).json()
        content = data["choices"][0]["logprobs"]["content"]
        assert [c["token"] for c in content] == ["yes", " it", " is"]
        first = content[0]["top_logprobs"]
        assert [t["token"] for t in first] == [" yes", "Yes"]  # sorted, cut to top_logprobs
        assert first[0]["logprob"] == pytest.approx(math.log(0.6))
        no_lp = _post(srv, _body()).json()
        assert no_lp["choices"][0]["logprobs"] is None


def test_scripted_faults_in_order() -> None:
    script = ["rate_limit", "server_error", "malformed", "refusal", "truncated", "empty", "ok"]
    with FakeOpenAIServer(script=script, retry_after_s=2, responder=lambda req: "abcdefgh") as srv:
        rs = [_post(srv, _body()) for _ in script]
        assert rs[0].status_code == 429 and rs[0].headers["retry-after"] == "2"
        assert rs[1].status_code == 500
        assert rs[2].status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(rs[2].text)
        refusal = rs[3].json()["choices"][0]["message"]
        assert refusal["content"] is None and "can't" in refusal["refusal"]
        trunc = rs[4].json()["choices"][0]
        assert trunc["finish_reason"] == "length" and trunc["message"]["content"] == "abcd"
        assert rs[5].json()["choices"][0]["message"]["content"] == ""
        assert rs[6].json()["choices"][0]["message"]["content"] == "abcdefgh"
        assert srv.stats == {"requests": 7, **{k: 1 for k in script}}


def test_timeout_fault_hangs() -> None:
    with FakeOpenAIServer(script=["timeout"], hang_s=1.0) as srv:
        with pytest.raises(httpx.ReadTimeout):
            _post(srv, _body(), timeout=0.2)
        assert srv.stats["timeout"] == 1
        t0 = time.monotonic()
        assert _post(srv, _body()).status_code == 200  # the server still answers others meanwhile
        assert time.monotonic() - t0 < 0.8


def test_fault_rates_are_seeded_and_close_to_configured() -> None:
    rates = dict.fromkeys(FAULT_KINDS, 0.04)  # 28 % faults in all
    counts = []
    for _ in range(2):
        srv = FakeOpenAIServer(faults=rates, seed=3)
        counts.append([srv._draw() for _ in range(2000)])
        srv.stop()
    assert counts[0] == counts[1]
    faulty = sum(o != "ok" for o in counts[0]) / 2000
    assert 0.24 < faulty < 0.32


def test_rejected_params_and_api_key() -> None:
    with FakeOpenAIServer(reject_params=("logprobs",), api_key="sk-test-123") as srv:
        r = httpx.post(f"{srv.base_url}/chat/completions", json=_body(logprobs=True))
        assert r.status_code == 401 and "sk-test-123" not in r.text
        headers = {"Authorization": "Bearer sk-test-123"}
        r = httpx.post(f"{srv.base_url}/chat/completions", json=_body(logprobs=True), headers=headers)
        assert r.status_code == 400 and r.json()["error"]["param"] == "logprobs"
        r = httpx.post(f"{srv.base_url}/chat/completions", json=_body(), headers=headers)
        assert r.status_code == 200
        assert [rec.outcome for rec in srv.records] == ["unauthorized", "bad_request", "ok"]
        assert [rec.has_auth for rec in srv.records] == [False, True, True]


def test_invalid_configuration_is_reported() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FakeOpenAIServer(faults={"explode": 0.1})
    with pytest.raises(ValueError, match="sum"):
        FakeOpenAIServer(faults={"timeout": 0.6, "empty": 0.6})


def test_official_openai_sdk_parses_the_fake() -> None:
    openai = importorskip("openai", "dev")
    with FakeOpenAIServer(responder=lambda req: "no") as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="unused", max_retries=0)
        out = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "ok?"}], logprobs=True, top_logprobs=2
        )
        assert out.choices[0].message.content == "no"
        assert out.choices[0].logprobs.content[0].top_logprobs[1].token == "yes"
        assert out.usage.completion_tokens == 1


def test_main_rejects_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        main(["--port", "not-a-port"])


def test_runs_as_a_module() -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "judgerl.testing.fake_openai", "--port", "0", "--answer", "B"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ")[1].split(" ")[0]
        r = httpx.post(f"{url}/chat/completions", json=_body(), timeout=5.0)
        assert r.json()["choices"][0]["message"]["content"] == "B"
        # Its request counts, from another process: what a benchmark reads instead of .stats.
        assert httpx.get(f"{url}/stats", timeout=5.0).json() == {"requests": 1, "ok": 1}
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_down_refuses_connections_breaks_answers_in_flight_and_up_serves_the_same_port() -> None:
    with FakeOpenAIServer(latency_s=0.3) as srv:
        port = srv.port
        client = httpx.Client(base_url=srv.base_url + "/", timeout=5)  # keep-alive: one connection for all
        assert client.post("chat/completions", json=_body("first")).status_code == 200
        errors: list[str] = []

        def in_flight() -> None:
            try:
                client.post("chat/completions", json=_body("in flight"))
            except httpx.TransportError as e:
                errors.append(type(e).__name__)

        t = threading.Thread(target=in_flight)
        t.start()
        time.sleep(0.1)  # the server is preparing that answer
        srv.down()
        t.join()
        assert errors and not srv.is_up  # the keep-alive connection was closed, not answered
        with pytest.raises(httpx.ConnectError):  # connection refused: nothing listens
            client.post("chat/completions", json=_body("while down"))
        srv.up()
        assert srv.port == port and client.post("chat/completions", json=_body("after")).status_code == 200
        assert [(r.text, r.delivered) for r in srv.records] == [("first", True), ("in flight", False), ("after", True)]
        assert answered_prompts(srv.records) == {"first": 1, "after": 1}
        ((t_down, t_up),) = srv.outages
        assert t_up is not None and t_up > t_down


def test_a_scheduled_outage_starts_after_the_first_request_and_ends() -> None:
    with FakeOpenAIServer() as srv:
        srv.outage(0.2, 0.4, after_first_request=True)
        time.sleep(0.3)
        assert srv.is_up  # no request yet: the clock has not started
        assert _post(srv, _body()).status_code == 200
        time.sleep(0.3)
        assert not srv.is_up
        assert wait_until(lambda: srv.is_up, 3.0)
        assert _post(srv, _body("again")).status_code == 200
        assert len(srv.outages) == 1


def wait_until(cond: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False
