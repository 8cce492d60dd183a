"""`stompim serve`, `stompim migrate`, `stompim version`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from stompim import __version__, logs
from stompim.config import Config, load_config
from stompim.errors import ConfigError

log = logging.getLogger(__name__)


def _install_uvloop() -> str:
    """Use uvloop when it is installed; the default loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def _apply_flags(config: Config, args: argparse.Namespace) -> Config:
    server: dict[str, object] = {}
    for flag in ("host", "http_port", "ws_port", "tcp_port"):
        value = getattr(args, flag, None)
        if value is not None:
            server[flag] = value
    return config.replace(server=server) if server else config


async def _serve(config: Config) -> None:
    from stompim.app import Node

    node = Node(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no signal handlers
            loop.add_signal_handler(sig, stop.set)
    await node.start()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await node.stop()


async def _migrate(config: Config) -> int:
    from stompim.store import migrate, open_database

    db = await open_database(
        config.database.url, pool_min=config.database.pool_min, pool_max=config.database.pool_max
    )
    try:
        return await migrate(db)
    finally:
        await db.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stompim", description=__doc__)
    parser.add_argument("--config", help="path to config.toml (default: ./config.toml if present)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (default: log.level)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a node: REST, STOMP over WebSocket and TCP")
    serve.add_argument("--host", help="bind address (overrides server.host)")
    serve.add_argument("--http-port", type=int, help="REST port (overrides server.http_port)")
    serve.add_argument("--ws-port", type=int, help="WebSocket port (overrides server.ws_port)")
    serve.add_argument("--tcp-port", type=int, help="STOMP TCP port; -1 disables it")
    sub.add_parser("migrate", help="create or upgrade the configured database, then exit")
    sub.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"stompim {__version__}")
        return 0
    try:
        config = _apply_flags(load_config(args.config), args)
        level = args.log_level or config.log.level
        if not logs.is_level(level):
            raise ConfigError(f"--log-level: unknown level {level!r}")
        logs.configure(config.log.format, level, access=config.log.access)
    except ConfigError as exc:
        print(f"stompim: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        version = asyncio.run(_migrate(config))
        print(f"stompim: database at schema version {version}")
        return 0
    loop_name = _install_uvloop()
    log.info("stompim %s starting on %s", __version__, loop_name)
    try:
        asyncio.run(_serve(config))
    except ConfigError as exc:
        print(f"stompim: configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"stompim: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
