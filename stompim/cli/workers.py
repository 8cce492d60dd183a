"""`stompim serve --workers N`: one node on every core, as N supervised processes.

Python runs one event loop on one core; a node that should use a machine's cores runs
several processes. Each worker is a whole node of its own (`stompim serve` with
`server.workers = 1`): its own database pool, Redis client and broker, a node id of its
own (`server.node_id` + ``-w<i>``, or hostname + pid), and the node's three ports bound
with SO_REUSEPORT (`server.reuse_port`), so the kernel spreads new connections over the
workers. Workers reach each other's subscribers through the Redis cluster bridge
(stompim.cluster), exactly as separate nodes do: without Redis a message would only
reach the sessions of the worker that stored it, so N > 1 is refused then.

The supervisor (this process) serves nothing. Call order, `supervise(config, args)`:
  1. refuse N > 1 without Redis (exit 2, a message naming the fix);
  2. settle the ports: a port configured as 0 becomes one free port, the same for every
     worker (each must bind the same number);
  3. start the workers (`python -m stompim [--config ...] serve`, the settled ports, the
     node id and `reuse_port` in `STOMPIM_SERVER_*` variables, the supervisor's pid in
     STOMPIM_SUPERVISOR_PID: a worker whose supervisor is gone stops itself; a fresh
     PROMETHEUS_MULTIPROC_DIR unless one is set, so /metrics sums every worker's);
  4. keep them: a worker that exits (crash, kill -9) is logged and started again after
     a pause that doubles from FIRST_PAUSE up to MAX_PAUSE (back to FIRST_PAUSE once a
     worker ran STABLE_SECONDS); more than MAX_RESTARTS exits of one worker within
     RESTART_WINDOW stop the whole node (exit 1): a worker that cannot start is a
     configuration or environment problem, not something to retry forever;
  5. SIGTERM or SIGINT: SIGTERM to every worker, which drains as a lone node does
     (stops accepting, answers the SENDs it read within `stomp.send_drain_ms`, closes
     its sessions with ERROR "server shutting down"); a worker still running
     `send_drain_ms` + STOP_GRACE seconds later is killed. Exit 0 when every worker
     exited cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque

from stompim.cli.common import EXIT_CONFIG, EXIT_PROBLEM
from stompim.config import Config

__all__ = ["resolve_workers", "supervise"]

log = logging.getLogger(__name__)

FIRST_PAUSE = 0.5
MAX_PAUSE = 30.0
STABLE_SECONDS = 60.0
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
STOP_GRACE = 10.0
SUPERVISOR_ENV = "STOMPIM_SUPERVISOR_PID"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's multiprocess mode (stompim.metrics): the supervisor gives its
workers one fresh directory (removed when it exits), so each worker's /metrics answers
for the whole node."""

NEEDS_REDIS = (
    "--workers {n} needs Redis: the workers of a node reach each other's subscribers through"
    " the Redis cluster bridge. Set redis.url (or STOMPIM_REDIS_URL), or serve with --workers 1"
)


def resolve_workers(value: str | int | None, config: Config) -> int:
    """The worker count: `--workers` (a number, or "auto" = cores), else
    `server.workers` (0 = cores). ValueError for anything else."""
    if value is None:
        value = config.server.workers
    if isinstance(value, str):
        value = 0 if value.strip().lower() == "auto" else int(value)
    if value < 0:
        raise ValueError("the worker count must be 1 or more, or auto")
    return value or os.cpu_count() or 1


def supervise(config: Config, args: argparse.Namespace, count: int) -> int:
    """Run `count` workers until SIGTERM/SIGINT (see the module docstring); exit code."""
    if not config.redis.url:
        print(f"stompim: {NEEDS_REDIS.format(n=count)}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        env = worker_env(config)
    except OSError as exc:
        print(f"stompim: cannot start: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    own_metrics = None
    if not os.environ.get(METRICS_ENV):   # else the operator's directory is used as it is
        own_metrics = env[METRICS_ENV] = tempfile.mkdtemp(prefix="stompim-metrics-")
    try:
        return asyncio.run(Supervisor(count, worker_command(args), env, config).run())
    finally:
        if own_metrics is not None:
            shutil.rmtree(own_metrics, ignore_errors=True)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def worker_env(config: Config) -> dict[str, str]:
    """What every worker shares: the ports settled (0 -> one free port) and reuse_port."""
    server = config.server
    ports = {
        "HTTP_PORT": server.http_port or _free_port(server.host),
        "WS_PORT": server.ws_port or _free_port(server.host),
        "TCP_PORT": server.tcp_port if server.tcp_port != 0 else _free_port(server.host),
    }
    env = {f"STOMPIM_SERVER_{name}": str(port) for name, port in ports.items()}
    env["STOMPIM_SERVER_HOST"] = server.host
    env["STOMPIM_SERVER_REUSE_PORT"] = "true"
    env["STOMPIM_SERVER_WORKERS"] = "1"
    env[SUPERVISOR_ENV] = str(os.getpid())
    return env


def worker_command(args: argparse.Namespace) -> list[str]:
    """`python -m stompim [--config F] [--log-level L] serve` (the rest comes by env)."""
    command = [sys.executable, "-m", "stompim"]
    if getattr(args, "config", None):
        command += ["--config", os.path.abspath(args.config)]
    if getattr(args, "log_level", None):
        command += ["--log-level", args.log_level]
    return [*command, "serve"]


class Supervisor:
    """Starts, restarts and stops the workers (module docstring, steps 3 to 5)."""

    def __init__(self, count: int, command: list[str], env: dict[str, str],
                 config: Config) -> None:
        self.count = count
        self.command = command
        self.env = env
        self.config = config
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.stopping: asyncio.Event | None = None  # made inside the loop (run)
        self.gave_up = False

    def _env_of(self, index: int) -> dict[str, str]:
        env = {**os.environ, **self.env}
        base = self.config.server.node_id
        if base:
            env["STOMPIM_SERVER_NODE_ID"] = f"{base}-w{index}"
        else:
            env.pop("STOMPIM_SERVER_NODE_ID", None)   # hostname + the worker's pid
        return env

    async def run(self) -> int:
        stopping = self.stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        log.info("starting %d workers on ports http %s, ws %s, tcp %s", self.count,
                 self.env["STOMPIM_SERVER_HTTP_PORT"], self.env["STOMPIM_SERVER_WS_PORT"],
                 self.env["STOMPIM_SERVER_TCP_PORT"])
        keepers = [asyncio.create_task(self._keep(i)) for i in range(1, self.count + 1)]
        await stopping.wait()
        log.info("stopping %d workers", len(self.procs))
        codes = await self._stop_all()
        for keeper in keepers:
            keeper.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)
        if self.gave_up:
            return EXIT_PROBLEM
        return 0 if all(code == 0 for code in codes) else EXIT_PROBLEM

    async def _keep(self, index: int) -> None:
        """One worker's life: start it, wait for its exit, start it again after a pause."""
        assert self.stopping is not None
        exits: deque[float] = deque()
        pause = FIRST_PAUSE
        while not self.stopping.is_set():
            proc = await asyncio.create_subprocess_exec(*self.command, env=self._env_of(index))
            self.procs[index] = proc
            log.info("worker %d started (pid %d)", index, proc.pid)
            started = time.monotonic()
            code = await proc.wait()
            if self.stopping.is_set():
                return
            now = time.monotonic()
            if now - started >= STABLE_SECONDS:
                pause = FIRST_PAUSE
            exits.append(now)
            while exits and now - exits[0] > RESTART_WINDOW:
                exits.popleft()
            if len(exits) > MAX_RESTARTS:
                log.error("worker %d exited %d times within %.0f s (last: %s); stopping the node",
                          index, len(exits), RESTART_WINDOW, _how(code))
                self.gave_up = True
                self.stopping.set()
                return
            log.warning("worker %d (pid %d) %s; starting it again in %.1f s",
                        index, proc.pid, _how(code), pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), pause)
            pause = min(pause * 2, MAX_PAUSE)

    async def _stop_all(self) -> list[int]:
        """SIGTERM to every worker, then wait (bounded; SIGKILL past the bound)."""
        procs = [p for p in self.procs.values() if p.returncode is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        bound = self.config.stomp.send_drain_ms / 1000 + STOP_GRACE
        try:
            await asyncio.wait_for(asyncio.gather(*[p.wait() for p in procs]), bound)
        except TimeoutError:
            for proc in procs:
                if proc.returncode is None:
                    log.error("worker pid %d did not stop within %.0f s; killing it",
                              proc.pid, bound)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            await asyncio.gather(*[p.wait() for p in procs])
        codes = [int(p.returncode or 0) for p in procs]
        for proc, code in zip(procs, codes, strict=True):
            log.info("worker pid %d %s", proc.pid, _how(code))
        return codes


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
