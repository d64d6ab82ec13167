"""A local server run detached for ``make local``: its own session, a pid file and a log in its
directory, so it outlives the command that started it, and a stop that leaves nothing behind.

`DetachedServer` is the shared lifecycle (status from the pid file, start, wait until it
answers, stop with SIGTERM then SIGKILL); each server says how it is run, recognized
and probed: `devtools.dynamodb_local.MotoProcess`, `devtools.document_store.FerretProcess`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from devtools.postgres import port_is_free, process_alive

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class ServerError(RuntimeError):
    """A one-line reason (printed as ``error: ...`` by ``make local``)."""


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    port: int | None


@dataclass(frozen=True)
class DetachedServer:
    """One server on ``host``:``port`` with its pid file and log in ``directory``."""

    directory: Path
    port: int
    host: str = "127.0.0.1"

    name: ClassVar[str]
    """How messages call it ("moto server")."""
    file_stem: ClassVar[str]
    """Its pid file and log: ``<stem>.pid``, ``<stem>.log``."""
    port_variable: ClassVar[str]
    """The setting that chooses its port, named when the port is taken."""
    marker: ClassVar[bytes]
    """Part of its command line, so that a recycled pid is not taken for it."""
    error: ClassVar[type[Exception]] = ServerError

    def command(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    @property
    def pidfile(self) -> Path:
        return self.directory / f"{self.file_stem}.pid"

    @property
    def logfile(self) -> Path:
        return self.directory / f"{self.file_stem}.log"

    def status(self) -> ServerStatus:
        """From the pid file: a live process that is this server, and its port."""
        try:
            recorded = json.loads(self.pidfile.read_text())
            pid, port = int(recorded["pid"]), int(recorded["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return ServerStatus(False, None, None)
        if not process_alive(pid) or not self._is_ours(pid):
            return ServerStatus(False, None, None)
        return ServerStatus(True, pid, port)

    def start(self) -> tuple[int, bool]:
        """(pid, started now); idempotent: a running server is left alone."""
        return self.launch().wait()

    def launch(self) -> PendingStart:
        """Check and spawn now, wait for it to answer later (`PendingStart.wait`), so that
        the caller can do other work meanwhile; `PendingStart.abort` kills it."""
        state = self.status()
        if state.running:
            assert state.pid is not None
            if state.port != self.port:
                raise self.error(
                    f"the local {self.name} (pid {state.pid}) already runs on port {state.port},"
                    f" not {self.port}; stop it first (make local-down)"
                )
            return PendingStart(self, None, state.pid)
        self.pidfile.unlink(missing_ok=True)
        if not port_is_free(self.port, self.host):
            raise self.error(
                f"port {self.port} on {self.host} is in use by another process;"
                f" free it or choose another port ({self.port_variable})"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as log:
            process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,  # survives the shell / make that started it
            )
        return PendingStart(self, process, process.pid)

    def wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        give_up_at = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < give_up_at:
            if process.poll() is not None:
                raise self.error(
                    f"{self.name} exited ({process.returncode}): {self._last_log_line()}"
                )
            try:
                if self.answers():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise self.error(
            f"{self.name} did not answer on {self.host}:{self.port} within"
            f" {STARTUP_TIMEOUT:.0f} s (log: {self.logfile})"
        )

    def _last_log_line(self) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no output"

    def stop(self) -> bool:
        """SIGTERM (then SIGKILL after a while); True if it was running. Verifies it is gone."""
        state = self.status()
        if not state.running:
            self.pidfile.unlink(missing_ok=True)
            return False
        assert state.pid is not None
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(state.pid, sig)  # its own session: the group is the server alone
            except ProcessLookupError:
                break
            give_up_at = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < give_up_at and process_alive(state.pid):
                time.sleep(0.02)
            if not process_alive(state.pid):
                break
        if process_alive(state.pid):
            raise self.error(f"{self.name} {state.pid} did not stop")
        self.pidfile.unlink(missing_ok=True)
        return True

    def _is_ours(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return self.marker in cmdline


@dataclass
class PendingStart:
    """A server being started (``process``), or already running (``process`` None)."""

    server: DetachedServer
    process: subprocess.Popen[bytes] | None
    pid: int

    def wait(self) -> tuple[int, bool]:
        """(pid, started now) once it answers; the pid file is written then."""
        if self.process is None:
            return self.pid, False
        try:
            self.server.wait_ready(self.process)
        except BaseException:
            self.abort()
            raise
        tmp = self.server.pidfile.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": self.pid, "port": self.server.port}))
        tmp.replace(self.server.pidfile)
        # Not waited for: it runs on after this process exits, and its parent becomes init.
        self.process.returncode = 0
        self.process = None
        return self.pid, True

    def abort(self) -> None:
        """Kill a server this launch started and has not handed over yet."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
