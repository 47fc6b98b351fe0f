"""``judgerl`` commands in processes forked from an interpreter that has already imported torch and co.

A fresh ``python -m judgerl.cli run`` spends 3-3.5 s of CPU on imports (torch, the ``torch._dynamo`` that
torch's first optimizer pulls in, Stable-Baselines3, gymnasium, matplotlib) before a tiny test run does its
~1 s of work. The tests that must run a command in another process (it is killed, sent SIGTERM, holds
the run's lock, or resumes after a crash) start it here instead: a :mod:`multiprocessing` forkserver
imports those modules once per test process, and each command is a fork of it that sets the caller's
environment and working directory, sends stdout and stderr to files, and runs ``judgerl.cli.main``. The
command is still its own process with its own pid, killed, signalled and waited for as a subprocess is;
what it shares with the others is only the third-party imports (decision 0039). A few tests keep a
fresh interpreter through :func:`judgerl.testing.cli.cli` (``--help``, SAC on discrete actions, one full
run).
"""

from __future__ import annotations

import atexit
import io
import multiprocessing
import multiprocessing.util
import os
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path

PRELOAD = ("torch", "torch._dynamo", "stable_baselines3", "gymnasium", "matplotlib.pyplot", "jinja2", "pydantic")
"""What the forkserver imports once: third-party libraries only. Every ``judgerl`` module is imported afresh
in each command, so a command that forgets an import, or needs an import's side effect (a registration),
fails here as it would for a user."""

_context: ForkServerContext | None = None


def _forkserver() -> ForkServerContext:
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(PRELOAD))
        _context = ctx
    return _context


def _stream(fd: int) -> io.TextIOWrapper:
    """An unbuffered text stream on ``fd``, as ``PYTHONUNBUFFERED=1`` gives a subprocess."""
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8", write_through=True)


def _command(args: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    """The forked process: the caller's environment and cwd, output to files, ``main``, then exit as Python does."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, out), (2, err)):
        new = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(new, fd)
        os.close(new)
    sys.stdout, sys.stderr = _stream(1), _stream(2)
    sys.argv = ["judgerl", *args]
    code: int
    try:
        from judgerl.cli import main

        code = main(args)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        if not isinstance(e.code, int | None):
            print(e.code, file=sys.stderr)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = 128 + signal.SIGINT
    except BaseException:
        traceback.print_exc()
        code = 1
    # What interpreter shutdown does before exiting: wait for non-daemon threads, then atexit callbacks.
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    multiprocessing.util._exit_function()  # type: ignore[attr-defined]  # the command's own locks, as at exit
    os._exit(code)


class ForkedCommand:
    """A running ``judgerl`` command: the part of :class:`subprocess.Popen` the tests use."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        """Start ``judgerl ARGS`` with ``env`` (default: this process's environment) in this working directory."""
        self.args = list(args)
        self._dir = Path(tempfile.mkdtemp(prefix="judgerl-forked-"))
        self._out, self._err = self._dir / "stdout", self._dir / "stderr"
        env = dict(os.environ if env is None else env)
        self._proc: BaseProcess = _forkserver().Process(
            target=_command, args=(self.args, env, os.getcwd(), str(self._out), str(self._err)), daemon=False
        )
        self._proc.start()

    @property
    def pid(self) -> int:
        """The command's process id."""
        assert self._proc.pid is not None
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit status (``-N`` after signal N), or None while it runs."""
        return self._proc.exitcode

    def poll(self) -> int | None:
        """The exit status if the command has ended, else None."""
        return self._proc.exitcode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the command to end; raises :class:`subprocess.TimeoutExpired` after ``timeout`` s."""
        self._proc.join(timeout)
        if self._proc.exitcode is None:
            raise subprocess.TimeoutExpired(["judgerl", *self.args], timeout or 0.0)
        return self._proc.exitcode

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the command, unless it has ended."""
        if self._proc.exitcode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL the command."""
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end, then return what the command wrote to stdout and stderr."""
        self.wait(timeout)
        out, err = (p.read_text(errors="replace") if p.exists() else "" for p in (self._out, self._err))
        for p in (self._out, self._err):
            p.unlink(missing_ok=True)
        self._dir.rmdir()
        return out, err


def run_forked(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``judgerl ARGS`` to completion in a forked process, as :func:`subprocess.run` with captured output.

    Args:
        args: the command line after ``judgerl``.
        env: the command's environment (default: this process's).
        timeout: seconds; the command is killed and :class:`subprocess.TimeoutExpired` raised after them.

    Returns:
        The exit status (``-9`` for a SIGKILL), stdout and stderr.
    """
    proc = ForkedCommand(list(args), env)
    try:
        out, err = proc.communicate(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    code = proc.returncode
    assert code is not None
    return subprocess.CompletedProcess(["judgerl", *args], code, out, err)
