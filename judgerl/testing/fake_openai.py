"""A fake OpenAI-compatible chat server on a real socket, with fault injection.

It serves ``POST /v1/chat/completions`` and ``GET /v1/models`` from a
``ThreadingHTTPServer`` in a background thread (one thread per connection, so
concurrent requests with latency overlap instead of queueing). A seeded RNG
picks, per request, either a normal answer or one fault:

=============  ============================================================
``rate_limit``  HTTP 429 with a ``Retry-After`` header
``server_error`` HTTP 500
``timeout``     sleeps ``hang_s`` (longer than the client's timeout)
``malformed``   HTTP 200 whose body is cut-off JSON
``refusal``     ``message.refusal`` set and ``content`` null (or refusal text)
``truncated``   half the answer with ``finish_reason: "length"``
``empty``       ``content: ""``
``unauthorized`` HTTP 401 (wrong key)
``forbidden``   HTTP 403 (no access to the model)
``not_found``   HTTP 404 (unknown model)
``redirect``    HTTP 301 with a ``Location`` header (an ``https://`` URL)
``context_length`` HTTP 400 naming no request option (prompt too long)
=============  ============================================================

Every request is recorded (outcome, text of the prompt, options, and whether
the answer was delivered) so tests can compare what the client concluded with
what the server really did; :func:`answered_prompts` counts the 200 answers per
prompt (a prompt answered twice was paid twice).

Outages: :meth:`FakeOpenAIServer.down` closes the listening socket *and* every
open connection (keep-alive ones included, and the ones whose answer is still
being prepared, which is then never delivered), so clients get connection
refused or a broken connection, as from a crashed or restarted server -- not a
polite 503. :meth:`FakeOpenAIServer.up` listens again on the same port;
:meth:`FakeOpenAIServer.outage` schedules one down/up pair. Run it by hand with
``python -m judgerl.testing.fake_openai --port 8089``.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from typing import Any

from judgerl.testing.connection_tracking import ConnectionTrackingServer
from judgerl.testing.fake_openai_payloads import (  # noqa: F401 (re-exported)
    FAULT_KINDS,
    HTTP_FAULTS,
    REFUSAL_TEXT,
    Reply,
    RequestRecord,
    Responder,
    _count_images,
    _logprob_content,
    answered_prompts,
    completion,
    default_responder,
    request_text,
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses connections
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request logging
        pass

    record: int | None = None  # index of this request's record in the server's log, once recorded

    def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
        except OSError:  # the client gave up (timeout) or the server went down: not delivered
            self.close_connection = True
            return
        # The client can hold the whole answer a moment before this thread marks it delivered;
        # FakeOpenAIServer.records waits while any answer is between those two points.
        fake = self.server.fake
        fake._writing(+1)
        try:
            self.wfile.write(body)
            self.wfile.flush()
            if self.record is not None:
                fake._delivered(self.record)
        except OSError:
            self.close_connection = True
        finally:
            fake._writing(-1)

    def _error(
        self, status: int, message: str, param: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        err = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
        self._send(status, json.dumps(err).encode(), headers)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        """Serve ``/v1/models``, and ``/v1/stats`` (requests per outcome, for a server in another process)."""
        if self.path.rstrip("/").endswith("/models"):
            data = {
                "object": "list",
                "data": [{"id": self.server.fake.model, "object": "model", "owned_by": "judgerl"}],
            }
            self._send(200, json.dumps(data).encode())
        elif self.path.rstrip("/").endswith("/stats"):
            self._send(200, json.dumps(self.server.fake.stats).encode())
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        """Serve ``/v1/chat/completions``."""
        fake = self.server.fake
        self.record = None
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        if not self.path.split("?")[0].rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no route {self.path}")
            return
        try:
            req = json.loads(raw)
        except json.JSONDecodeError:
            self._error(400, "request body is not JSON")
            return
        auth = "Authorization" in self.headers
        if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            self.record = fake._record("unauthorized", req, auth)
            self._error(401, "Incorrect API key provided.")
            return
        for param in fake.reject_params:
            if param in req:
                self.record = fake._record("bad_request", req, auth)
                self._error(400, f"Unsupported parameter: '{param}' is not supported with this model.", param)
                return
        outcome = fake._draw()
        self.record = fake._record(outcome, req, auth)
        req = {k: v for k, v in req.items() if k not in fake.ignore_params}  # as if never sent
        with fake._slots:  # a server with N batch slots: request N+1 waits for one (a replica's capacity)
            time.sleep(fake.latency_s)
        if outcome in HTTP_FAULTS:
            status, message, named = HTTP_FAULTS[outcome]
            moved = {"Location": f"https://{fake.host}:{fake.port}{self.path}"} if status < 400 else None
            self._error(status, message, named, headers=moved)
        elif outcome == "rate_limit":
            self._error(429, "Rate limit reached.", headers={"Retry-After": f"{fake.retry_after_s:g}"})
        elif outcome == "server_error":
            self._error(500, "The server had an error while processing your request.")
        elif outcome == "malformed":
            self._send(200, b'{"id": "chatcmpl-x", "choices": [{"index": 0, "message": {"role": "assi')
        else:
            if outcome == "timeout":
                time.sleep(fake.hang_s)
            self._send(200, json.dumps(fake._completion(req, outcome)).encode())


class _Server(ConnectionTrackingServer):
    fake: FakeOpenAIServer

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)


class FakeOpenAIServer:
    """A fake OpenAI-compatible server for tests and demos.

    Args:
        port: TCP port on ``host``; 0 picks a free one (see :attr:`port`).
        host: Interface to bind (loopback by default).
        latency_s: Seconds every request takes before its answer.
        responder: ``request_json -> str | Reply`` deciding the answer text;
            default :func:`default_responder`.
        faults: Probability per fault kind (see :data:`FAULT_KINDS` and
            :data:`HTTP_FAULTS`); their sum must be at most 1.
        seed: Seed of the fault RNG.
        script: Outcomes (``ok`` or fault kinds) for the first requests, in
            arrival order, before the RNG takes over (deterministic tests).
        retry_after_s: ``Retry-After`` seconds sent with 429s.
        hang_s: How long a ``timeout`` request sleeps before answering.
        refusal_in_content: Refuse with content ``"I can't help with that."``
            instead of the ``message.refusal`` field.
        reject_params: Request keys answered with HTTP 400 (e.g. ``logprobs``,
            ``response_format``) to mimic servers without those features.
        ignore_params: Request keys silently ignored (e.g. ``logprobs``: the
            answer then carries none), as some servers do with unknown options.
        api_key: When set, requests must carry ``Authorization: Bearer <key>``.
        model: Name reported by ``/v1/models`` and in completions.
        max_concurrency: Requests served at once (each takes ``latency_s``);
            more wait in line, as on a model server with that many slots.
            ``None``: unlimited.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        latency_s: float = 0.0,
        responder: Responder | None = None,
        faults: Mapping[str, float] | None = None,
        seed: int = 0,
        script: Sequence[str] = (),
        retry_after_s: float = 1.0,
        hang_s: float = 5.0,
        refusal_in_content: bool = False,
        reject_params: Sequence[str] = (),
        ignore_params: Sequence[str] = (),
        api_key: str | None = None,
        model: str = "fake-model",
        max_concurrency: int | None = None,
    ) -> None:
        faults = dict(faults or {})
        unknown = (set(faults) | set(script)) - set(FAULT_KINDS) - set(HTTP_FAULTS) - {"ok"}
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {(*FAULT_KINDS, *HTTP_FAULTS)}")
        if sum(faults.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault rates sum to {sum(faults.values())} > 1")
        self.host, self.latency_s, self.seed = host, latency_s, seed
        self.responder: Responder = responder or default_responder
        self.faults = faults
        self.retry_after_s, self.hang_s = retry_after_s, hang_s
        self.refusal_in_content = refusal_in_content
        self.reject_params = tuple(reject_params)
        self.ignore_params = tuple(ignore_params)
        self.api_key, self.model = api_key, model
        self._records: list[RequestRecord] = []
        self._n_writing = 0  # answers being written, not yet marked delivered
        self._slots: contextlib.AbstractContextManager[Any] = (
            threading.BoundedSemaphore(max_concurrency) if max_concurrency else contextlib.nullcontext()
        )
        self._script = list(script)
        self._rng = random.Random(seed)
        self._lock = threading.Condition()
        self._httpd = _Server((host, port))
        self._httpd.fake = self
        self._port = int(self._httpd.server_address[1])  # kept across down()/up(): clients reconnect to it
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.outages: list[tuple[float, float | None]] = []  # (down, up) times, time.monotonic()

    @property
    def port(self) -> int:
        """The bound TCP port (the same after :meth:`down` and :meth:`up`)."""
        return self._port

    @property
    def is_up(self) -> bool:
        """Whether the server listens now."""
        return self._thread is not None

    @property
    def base_url(self) -> str:
        """``http://host:port/v1``, what ``ClientConfig.base_url`` wants."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def records(self) -> list[RequestRecord]:
        """Every request so far in arrival order (a copy), each answer written by now marked delivered.

        Waits (at most 2 s) for answers being written: a client returns as soon as it has read
        its answer, a moment before the server's thread marks the record, and tests read this then.
        """
        with self._lock:
            self._lock.wait_for(lambda: self._n_writing == 0, timeout=2.0)
            return list(self._records)

    @property
    def stats(self) -> dict[str, int]:
        """Requests per outcome, plus ``requests`` (all of them)."""
        with self._lock:
            c = Counter(r.outcome for r in self._records)
        return {"requests": sum(c.values()), **c}

    def start(self) -> FakeOpenAIServer:
        """Serve in a daemon thread; returns ``self``."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (a scheduled outage still pending does nothing after this)."""
        self._stopped = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def down(self) -> None:
        """Go down: close the listening socket and every open connection; answers being prepared are lost.

        New connections are refused (ECONNREFUSED) until :meth:`up`; requests in flight
        see their connection broken and their answer is never delivered (its record keeps
        ``delivered=False``), as when a model server crashes or restarts.
        """
        if self._thread is None:
            return
        self._httpd.shutdown()
        self._thread.join()
        self._thread = None
        self._httpd.server_close()
        self._httpd.drop_connections()
        with self._lock:
            self.outages.append((time.monotonic(), None))

    def up(self) -> None:
        """Listen again on the same port after :meth:`down`."""
        if self._thread is not None or self._stopped:
            return
        self._httpd = _Server((self.host, self._port))
        self._httpd.fake = self
        self.start()
        with self._lock:
            if self.outages and self.outages[-1][1] is None:
                self.outages[-1] = (self.outages[-1][0], time.monotonic())

    def outage(self, after_s: float, for_s: float, after_first_request: bool = False) -> None:
        """Schedule one outage: :meth:`down` after ``after_s`` seconds, :meth:`up` ``for_s`` seconds later.

        Args:
            after_s: Seconds from now (or from the first request) until the server goes down.
            for_s: Seconds it stays down.
            after_first_request: Count ``after_s`` from the first request the server receives
                (so the outage falls inside the labelling however long a run takes to start).
        """

        def run() -> None:
            while after_first_request and not self._records and not self._stopped:
                time.sleep(0.01)
            time.sleep(after_s)
            self.down()
            time.sleep(for_s)
            self.up()

        threading.Thread(target=run, name="fake-openai-outage", daemon=True).start()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _draw(self) -> str:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            u = self._rng.random()
        acc = 0.0
        for kind in (*FAULT_KINDS, *HTTP_FAULTS):
            acc += self.faults.get(kind, 0.0)
            if u < acc:
                return kind
        return "ok"

    def _record(self, outcome: str, req: Mapping[str, Any], has_auth: bool) -> int:
        """Log a request at arrival; returns its index (for :meth:`_delivered`)."""
        n_images, _ = _count_images(req)
        body = {k: v for k, v in req.items() if k != "messages"}
        record = RequestRecord(outcome, request_text(req), n_images, body, time.monotonic(), has_auth)
        with self._lock:
            self._records.append(record)
            return len(self._records) - 1

    def _delivered(self, index: int) -> None:
        """Mark request ``index``'s answer as written to the client."""
        with self._lock:
            self._records[index] = replace(self._records[index], delivered=True)

    def _writing(self, delta: int) -> None:
        """Count an answer that starts (+1) or ends (-1) being written; wake :attr:`records` at zero."""
        with self._lock:
            self._n_writing += delta
            if self._n_writing == 0:
                self._lock.notify_all()

    def _completion(self, req: Mapping[str, Any], outcome: str) -> dict[str, Any]:
        reply = self.responder(dict(req))
        completion_id = f"chatcmpl-{self._rng.getrandbits(32):08x}"
        return completion(reply, req, outcome, self.model, completion_id, self.refusal_in_content)


if __name__ == "__main__":  # the command line lives in fake_openai_cli (one role per module)
    from judgerl.testing.fake_openai_cli import main

    main()
