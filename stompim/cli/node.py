"""`stompim serve` (run a node until SIGINT/SIGTERM) and `stompim migrate`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import resource
import signal
import sys
from typing import Any

from stompim import __version__
from stompim.cli.common import EXIT_CONFIG, EXIT_PROBLEM
from stompim.cli.workers import SUPERVISOR_ENV, resolve_workers, supervise
from stompim.config import Config
from stompim.errors import ConfigError

__all__ = ["add_parsers", "apply_flags", "raise_open_file_limit", "run"]

log = logging.getLogger(__name__)


def add_parsers(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run a node: REST, STOMP over WebSocket and TCP")
    serve.add_argument("--host", help="bind address (overrides server.host)")
    serve.add_argument("--http-port", type=int, help="REST port (overrides server.http_port)")
    serve.add_argument("--ws-port", type=int, help="WebSocket port (overrides server.ws_port)")
    serve.add_argument("--tcp-port", type=int, help="STOMP TCP port; -1 disables it")
    serve.add_argument(
        "--workers",
        help="processes serving these ports (overrides server.workers): a number, or auto"
        " (one per core); more than 1 needs Redis",
    )
    sub.add_parser("migrate", help="create or upgrade the configured database, then exit")


def apply_flags(config: Config, args: argparse.Namespace) -> Config:
    """`serve --host/--http-port/...` over the loaded configuration."""
    server: dict[str, object] = {}
    for flag in ("host", "http_port", "ws_port", "tcp_port"):
        value = getattr(args, flag, None)
        if value is not None:
            server[flag] = value
    return config.replace(server=server) if server else config


def _install_uvloop() -> str:
    """Use uvloop when it is installed; the default loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's soft open-file limit to its hard limit; (before, after).

    Every STOMP session holds one descriptor, and the usual soft default (1,024) would
    refuse connections long before the node's memory or CPU is the limit. The hard
    limit is the administrator's ceiling (`ulimit -Hn`, systemd `LimitNOFILE=`); it is
    left as it is. Called once by `serve`, before the listeners open.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return soft, resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def _serve(config: Config) -> None:
    from stompim.app import Node

    node = Node(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no signal handlers
            loop.add_signal_handler(sig, stop.set)
    watch = _watch_supervisor(stop)
    await node.start()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        if watch is not None:
            watch.cancel()
        await node.stop()


def _watch_supervisor(stop: asyncio.Event) -> asyncio.Task[None] | None:
    """A worker of `serve --workers` (stompim.cli.workers) stops itself when its
    supervisor is gone (killed with -9, say), rather than serve on unsupervised."""
    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    if not supervisor.isdigit():
        return None

    async def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if os.getppid() != int(supervisor):
                log.warning("the supervisor (pid %s) is gone; this worker stops", supervisor)
                stop.set()

    return asyncio.get_running_loop().create_task(watch())


async def _migrate(config: Config) -> int:
    from stompim.store import migrate, open_database

    db = await open_database(
        config.database.url, pool_min=config.database.pool_min, pool_max=config.database.pool_max
    )
    try:
        return await migrate(db)
    finally:
        await db.close()


def run(config: Config, args: argparse.Namespace) -> int:
    if args.command == "migrate":
        version = asyncio.run(_migrate(config))
        print(f"stompim: database at schema version {version}")
        return 0
    try:
        count = resolve_workers(getattr(args, "workers", None), config)
    except ValueError as exc:
        print(f"stompim: --workers: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if count > 1:
        return supervise(config, args, count)
    loop_name = _install_uvloop()
    before, after = raise_open_file_limit()
    log.info(
        "stompim %s starting on %s; open-file limit %s (was %s)",
        __version__, loop_name, after, before,
    )
    try:
        asyncio.run(_serve(config))
    except ConfigError as exc:
        print(f"stompim: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"stompim: cannot start: {exc}", file=sys.stderr)
        print("  hint: `stompim doctor` checks the ports, the database and Redis",
              file=sys.stderr)
        return EXIT_PROBLEM
    return 0
