"""A helper process of the run: ``python -m MODULE`` connected back over an authenticated loopback socket.

Used where work that holds the interpreter lock would otherwise run between the
agent's steps: the judge (:mod:`judgerl.labels.judge_process`, decision 0035) and
the online reward fits (:mod:`judgerl.reward.fit_process`, decision 0038).

Why :mod:`subprocess` and not a :mod:`multiprocessing` spawn: a spawned child
re-imports the parent's main script, so a user's script without an
``if __name__ == "__main__"`` guard would run its own work again in the child.
The child connects back to a socket bound to 127.0.0.1, and both sides prove they
hold a per-child random key (``multiprocessing.connection``'s challenge) before
any pickle is exchanged.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge
from typing import Any

_KEY_ENV = "JUDGERL_CHILD_KEY"


class HelperProcessError(RuntimeError):
    """The helper process could not start, did not answer in time, or died."""


class HelperProcess:
    """``python -m module`` as a child, with a pickle connection to it.

    Args:
        module: The child's module; its ``main`` calls :func:`connect_back`.
        what: How messages name the child (``"the judge process"``).
        start_timeout_s: Longest wait for the child to connect.

    Raises:
        HelperProcessError: The child exited or did not connect within ``start_timeout_s``.
    """

    def __init__(self, module: str, what: str, start_timeout_s: float = 300.0) -> None:
        self.what = what
        key = secrets.token_bytes(32)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.bind(("127.0.0.1", 0))  # loopback only
            server.listen(1)
            server.settimeout(0.5)
            host, port = server.getsockname()
            env = {**os.environ, _KEY_ENV: key.hex()}
            cmd = [sys.executable, "-m", module, f"{host}:{port}"]
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
            self.deadline = time.monotonic() + float(start_timeout_s)
            while True:
                try:
                    sock, _ = server.accept()
                    break
                except TimeoutError:
                    if self.proc.poll() is not None or time.monotonic() > self.deadline:
                        self.proc.kill()
                        self.proc.wait()
                        raise HelperProcessError(f"{what} did not connect (exit code {self.proc.returncode})") from None
        sock.settimeout(None)
        self.conn = Connection(sock.detach())
        try:
            deliver_challenge(self.conn, key)
            answer_challenge(self.conn, key)
        except (AuthenticationError, OSError, EOFError) as e:
            self.close()
            raise HelperProcessError(f"{what} could not start: {e}") from e

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self.proc.poll() is None

    def send(self, msg: Any) -> None:
        """Send ``msg`` (pickled) to the child.

        Raises:
            HelperProcessError: The child is gone.
        """
        try:
            self.conn.send(msg)
        except OSError as e:
            raise HelperProcessError(f"{self.what} died (exit code {self.proc.poll()})") from e

    def recv(self, timeout: float | None) -> Any:
        """The child's next message.

        Raises:
            HelperProcessError: The child died, or ``timeout`` seconds passed.
        """
        waited = 0.0
        while not self.conn.poll(0.5):
            waited += 0.5
            if not self.alive() and not self.conn.poll(0):
                raise HelperProcessError(f"{self.what} died (exit code {self.proc.returncode})")
            if timeout is not None and waited >= timeout:
                raise HelperProcessError(f"{self.what} did not answer within {timeout:.0f} s")
        try:
            return self.conn.recv()
        except (EOFError, OSError) as e:
            raise HelperProcessError(f"{self.what} died (exit code {self.proc.poll()})") from e

    def close(self) -> None:
        """Ask the child to stop (``("stop",)``); kill it if it has not stopped within 5 s."""
        if self.alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self.conn.send(("stop",))
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.conn.close()


def connect_back(argv: Sequence[str] | None = None) -> Connection:
    """The child's side: connect to the ``HOST:PORT`` in ``argv`` and prove the key; returns the connection."""
    address = (argv if argv is not None else sys.argv[1:])[0]
    host, port = address.rsplit(":", 1)
    key = bytes.fromhex(os.environ.pop(_KEY_ENV))
    sock = socket.create_connection((host, int(port)))
    conn = Connection(sock.detach())
    answer_challenge(conn, key)
    deliver_challenge(conn, key)
    return conn
