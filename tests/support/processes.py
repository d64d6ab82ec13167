"""A local server process for the tests and benchmarks: started on a free port, waited for, stopped.

The emulators (moto, the AWS Backup stand-in) are real processes reached over
real HTTP; this is the one way they are started and found ready.
"""

from __future__ import annotations

import socket
import subprocess
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http_status(url: str, method: str, path: str, body: str | None = None) -> int:
    """One plain HTTP request; its status."""
    connection = HTTPConnection(urlsplit(url).netloc, timeout=10)
    try:
        connection.request(method, path, body=body)
        return connection.getresponse().status
    finally:
        connection.close()


class ServerProcess:
    """``command`` (which serves on ``url``) until ``stop()``; ready once ``health`` answers 200."""

    def __init__(
        self, command: list[str], *, url: str, health: str, log: Path, timeout: float = 20
    ) -> None:
        self.url = url
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        give_up_at = time.monotonic() + timeout
        while time.monotonic() < give_up_at:
            if self.process.poll() is not None:
                raise RuntimeError(f"{command[2]} exited:\n{log.read_text()}")
            try:
                if http_status(url, "GET", health) == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{command[2]} did not answer:\n{log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
