"""A real Triton server for the tests: ``edgefusion serve`` in the serving environment, on free ports.

Where the serving environment (``make serve-env``) is missing, the tests that need a server skip
and say so. The server runs in a process group of its own so a test can kill it outright (the
PyTriton process and its ``tritonserver`` child together), as a crash or a power cut would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from edgefusion.commands.serve import serving_python

START_SECONDS = 90.0  # a cold start (tritonserver, the Python stub, the model) takes 5-15 s here
READY_LINE = "Ctrl-C stops"  # the end of serve's "serving ..." line, said once the model is loaded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_serving() -> Path:
    """The serving interpreter, or skip the test with the reason."""
    python = serving_python()
    if python is None:
        pytest.skip("no serving environment (.venv-serve): `make serve-env` needs Debian's /usr/bin/python3.11")
    probe = subprocess.run([str(python), "-c", "import pytriton"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"{python} cannot import pytriton: {probe.stderr.strip().splitlines()[-1:]}")
    return python


class Server:
    """``edgefusion serve ARTIFACT`` on free ports, started, waited for and stopped."""

    def __init__(self, artifact: Path, log: Path, *args: str, grpc_port: int | None = None) -> None:
        self.python = require_serving()
        self.artifact, self.log_path, self.args = artifact, log, args
        self.grpc_port = grpc_port or free_port()
        self.http_port, self.metrics_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}"

    def start(self) -> Server:
        ports = ["--grpc-port", self.grpc_port, "--http-port", self.http_port, "--metrics-port", self.metrics_port]
        command = [str(self.python), "-m", "edgefusion", "serve", str(self.artifact), *map(str, ports), *self.args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Until serve says it is serving: the server up and the model loaded."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"edgefusion serve exited {self.proc.returncode}: {self.log()[-2000:]}")
            if READY_LINE in self.log():
                return
            time.sleep(0.2)
        raise AssertionError(f"no ready server after {START_SECONDS:.0f} s: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the whole group: no clean shutdown, as when the machine goes away."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> int:
        """Ctrl-C, as a user stops it; the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.proc.returncode)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.kill()
