"""Detached background processes, pidfiles and port probes."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from localenv import LocalEnvError

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = REPO / ".localenv"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Return whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(argv: list[str], name: str, state_dir: Path, env: dict[str, str]) -> int:
    """Start argv in its own session so it outlives the caller.

    Output goes to `<state_dir>/<name>.log` and the pid to `<state_dir>/<name>.pid`.

    Returns:
        The pid of the new process.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / f"{name}.log").open("ab") as log:
        redirects = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
        ]
        pid = os.posix_spawn(argv[0], argv, env, file_actions=redirects, setsid=True)
    (state_dir / f"{name}.pid").write_text(f"{pid}\n")
    return pid


def wait_for_port(host: str, port: int, pid: int, log: Path, timeout: float = 30.0) -> None:
    """Wait until the process `pid` listens on host:port.

    Raises:
        LocalEnvError: if the process exits or the port stays closed past `timeout`.
    """
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if not alive(pid) or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise LocalEnvError(
                f"process {pid} did not start listening on {host}:{port}; log {log}:\n{tail}"
            )
        time.sleep(0.1)


def alive(pid: int) -> bool:
    """Return whether `pid` is a running (not zombie) process."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our exited child
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def terminate(pid: int, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Send `sig` to `pid` and wait for it to exit, killing it after `timeout`."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.1)


def stop_pidfile(name: str, state_dir: Path) -> bool:
    """Terminate the process recorded in `<state_dir>/<name>.pid` and remove the pidfile.

    Returns:
        Whether a running process was stopped.
    """
    pidfile = state_dir / f"{name}.pid"
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text())
    running = alive(pid)
    if running:
        terminate(pid)
    pidfile.unlink()
    return running
