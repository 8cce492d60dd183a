"""What every subcommand shares: logging set-up and how a problem is reported."""

from __future__ import annotations

import argparse
import sys

from stompim import logs
from stompim.config import Config
from stompim.errors import ConfigError

__all__ = ["EXIT_CONFIG", "EXIT_PROBLEM", "configure_logging", "problem"]

EXIT_PROBLEM = 1
"""A check failed, a user was not found, a service did not answer: the output says which."""
EXIT_CONFIG = 2
"""Bad usage or an invalid configuration."""

QUIET_COMMANDS = ("doctor", "user")


def configure_logging(config: Config, args: argparse.Namespace) -> None:
    """`--log-level` wins over log.level; doctor and user log WARNING and above unless
    asked, since their own output is the point."""
    level = args.log_level
    if level is None:
        level = config.log.level
        if args.command in QUIET_COMMANDS and logs.level_below(level, "WARNING"):
            level = "WARNING"
    elif not logs.is_level(level):
        raise ConfigError(f"--log-level: unknown level {level!r}")
    logs.configure(config.log.format, level, access=config.log.access)


def problem(message: str, hint: str = "") -> int:
    """Print `stompim: message` (and what to do) to stderr; returns EXIT_PROBLEM."""
    print(f"stompim: {message}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    return EXIT_PROBLEM
