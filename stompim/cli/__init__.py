"""The `stompim` command: serve, migrate, doctor, user (admin), version.

Each subcommand lives in its own module and adds its parser here through `add_parser`;
`main` loads the configuration (file, then `STOMPIM_*` environment), sets up logging
from its `[log]` section and runs the subcommand. Exit codes: 0 done, 1 a problem the
output names (a check failed, a user not found, a service unreachable), 2 bad usage or
an invalid configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from stompim import __version__
from stompim.cli import doctor, node, users
from stompim.cli.common import EXIT_CONFIG, configure_logging
from stompim.config import load_config
from stompim.errors import ConfigError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stompim",
        description="stompim: a STOMP broker with an IM REST API. "
        "Run `stompim COMMAND --help` for a command's options.",
    )
    parser.add_argument("--config", help="path to config.toml (default: ./config.toml if present)")
    parser.add_argument(
        "--log-level",
        help="DEBUG, INFO, WARNING, ERROR (default: log.level; WARNING for doctor and user)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    node.add_parsers(sub)
    doctor.add_parser(sub)
    users.add_parser(sub)
    sub.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"stompim {__version__}")
        return 0
    if args.command == "doctor":  # it reports a bad configuration as one of its checks
        return doctor.run(args)
    try:
        config = node.apply_flags(load_config(args.config), args)
        configure_logging(config, args)
    except ConfigError as exc:
        print(f"stompim: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "user":
        return users.run(config, args)
    return node.run(config, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
