"""Run the STOMP.js scenario runner (js/client.mjs) under Node from a test.

`ensure_js_project()` makes sure Node, npm and the pinned packages are there
(installing them once with `npm ci` from the committed lockfile).  `NodeRun`
starts one scenario as a subprocess and reads its JSON event lines on a reader
thread, so the test can wait for an event with a deadline, act (restart the
broker, log out), and let the script go on.

Call order: `NodeRun(js_dir, scenario)`, `start()`, any of `wait_event(name)` /
`go()`, then `finish()` for the final result; `close()` always (kills a
script still running and closes its pipes).  `run_scenario()` does all of it
for scenarios without checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ._services import unavailable

__all__ = ["JS_DIR", "NodeRun", "ensure_js_project", "run_scenario"]

JS_DIR = Path(__file__).resolve().parent / "js"
MIN_NODE_MAJOR = 18
_REQUIRED = ("@stomp/stompjs", "ws", "sockjs-client")


def _installed(js_dir: Path) -> bool:
    return all((js_dir / "node_modules" / name / "package.json").is_file() for name in _REQUIRED)


def ensure_js_project(js_dir: Path = JS_DIR) -> Path:
    """Node >= 18, npm, and js/node_modules populated; skip (or fail in CI) otherwise."""
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js is not installed (needed for the STOMP.js interop tests)")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < MIN_NODE_MAJOR:
        unavailable(f"Node.js {version or '?'} is too old; STOMP.js tests need >= {MIN_NODE_MAJOR}")
    if not _installed(js_dir):
        npm = shutil.which("npm")
        if npm is None:
            unavailable("npm is not installed (needed to install @stomp/stompjs and ws)")
        command = [
            npm,
            "ci" if (js_dir / "package-lock.json").is_file() else "install",
            "--no-audit",
            "--no-fund",
        ]
        try:
            done = subprocess.run(
                command, cwd=js_dir, capture_output=True, text=True, timeout=300, check=False
            )
        except subprocess.TimeoutExpired:
            unavailable(f"`{' '.join(command[1:])}` in {js_dir} took more than 300 s")
        if done.returncode != 0 or not _installed(js_dir):
            tail = (done.stderr or done.stdout).strip()[-800:]
            unavailable(f"`npm {command[1]}` in {js_dir} failed (no registry access?): {tail}")
    return js_dir


class NodeRun:
    def __init__(self, js_dir: Path, scenario: dict[str, Any]) -> None:
        self._js_dir = js_dir
        self._scenario = scenario
        self._proc: subprocess.Popen[str] | None = None
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._stderr: list[str] = []
        self._stderr_reader: threading.Thread | None = None
        self.events: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            ["node", "client.mjs", json.dumps(self._scenario)],
            cwd=self._js_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()

    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "garbage", "line": line}
            self._events.put(event)
        self._events.put(None)  # end of output

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            if len(self._stderr) < 200:
                self._stderr.append(line.rstrip())

    def _next(self, deadline: float, what: str) -> dict[str, Any] | None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"node client: timed out waiting for {what}; {self._diag()}")
        try:
            event = self._events.get(timeout=left)
        except queue.Empty:
            raise AssertionError(
                f"node client: timed out waiting for {what}; {self._diag()}"
            ) from None
        if event is not None:
            self.events.append(event)
            if event.get("event") == "result":
                self.result = event
        return event

    def wait_event(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """Next event called `name`; fails if the script ends first (its result says why)."""
        deadline = time.monotonic() + timeout
        while True:
            event = self._next(deadline, f"event {name!r}")
            if event is None or event.get("event") == "result":
                raise AssertionError(f"node client ended before {name!r}: {self._diag()}")
            if event.get("event") == name:
                return event

    def go(self) -> None:
        """Let the script continue past its current checkpoint."""
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()

    def finish(self, timeout: float = 30.0) -> dict[str, Any]:
        """The final result event; also checks that the exit code agrees with it."""
        deadline = time.monotonic() + timeout
        while self.result is None:
            if self._next(deadline, "the result") is None:
                break
        assert self._proc is not None
        code = self._proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        if self.result is None:
            raise AssertionError(f"node client exited {code} without a result; {self._diag()}")
        expected = 0 if self.result["ok"] else 1
        assert code == expected, f"exit code {code} but result ok={self.result['ok']}"
        return self.result

    def _diag(self) -> str:
        tail = self.events[-8:]
        return f"events so far: {tail}; stderr: {self._stderr[-15:]}"

    def close(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdin is not None:
            # the script may be gone; a pending "go" cannot be flushed then
            with contextlib.suppress(OSError):
                proc.stdin.close()
        # The readers end at EOF, which the exited process guarantees; join them
        # before closing their streams so no thread reads a closed file.
        for thread in (self._reader, self._stderr_reader):
            if thread is not None:
                thread.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def run_scenario(js_dir: Path, scenario: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Run a scenario without checkpoints to its end and return the result event."""
    run = NodeRun(js_dir, scenario)
    try:
        run.start()
        return run.finish(timeout)
    finally:
        run.close()
