"""Fixtures for Herald's Python tests: the `herald` CLI (from $HERALD_BIN, set by `cargo xtask test`), a
multicast group port of each test's own, CLI processes that are always stopped, and waiting helpers.

Every node here is pinned to loopback (``interface="127.0.0.1"``, ``--interface 127.0.0.1``)."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

GROUP_ADDR = "239.255.72.68"
PATIENCE = 15.0
"""Seconds to wait for something that should happen within a second or two."""


def _herald_bin() -> Path:
    given = os.environ.get("HERALD_BIN")
    if given:
        return Path(given)
    # Run by hand from the checkout after `cargo build --bins`.
    return Path(__file__).resolve().parents[2] / "target" / "debug" / "herald"


@pytest.fixture(scope="session")
def herald_bin() -> Path:
    path = _herald_bin()
    if not path.exists():
        pytest.fail(f"{path} is not built: run `cargo build --workspace --bins` (or set HERALD_BIN)")
    return path


@pytest.fixture
def port() -> int:
    """A UDP port free on loopback, as this test's multicast group port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cli:
    """Runs `herald` on loopback in this test's group; stops every process it started."""

    def __init__(self, herald_bin: Path, port: int, state_dir: Path):
        self.bin = herald_bin
        self.group = f"{GROUP_ADDR}:{port}"
        self.state_dir = state_dir
        self.running = []

    def args(self, *args: str) -> list:
        return [
            str(self.bin),
            "--interface",
            "127.0.0.1",
            "--group",
            self.group,
            "--state-dir",
            str(self.state_dir),
            *args,
        ]

    def run(self, *args: str, input: str = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.args(*args), input=input, capture_output=True, text=True, timeout=timeout
        )

    def start(self, *args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            self.args(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.running.append(process)
        return process

    def stop_all(self):
        for process in self.running:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            for stream in (process.stdout, process.stderr):
                if stream:
                    stream.close()


@pytest.fixture
def cli(herald_bin, port, tmp_path):
    runner = Cli(herald_bin, port, tmp_path / "cli-state")
    yield runner
    runner.stop_all()


@pytest.fixture
def node_args(port, tmp_path):
    """Keyword arguments for a `herald.Node` in this test's group on loopback."""
    return {"interface": "127.0.0.1", "group": port, "state_dir": str(tmp_path / "py-state")}


def wait_until(condition, what: str, timeout: float = PATIENCE):
    """Polls `condition` until it is true; fails the test naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def peer_names(node) -> set:
    return {peer.name for peer in node.peers()}


def os_threads() -> int:
    """Threads of this process, as the OS counts them (Rust threads included)."""
    return len(os.listdir("/proc/self/task"))


def os_sockets() -> int:
    """Sockets this process holds open, as the OS counts them (the node's included)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # the directory's own fd, closed by now
    return count
