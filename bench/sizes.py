"""Size options of the scale scenarios (issue 17): `--count`/`--hold` and the split over
processes (`--workers`/`--generators`, bench.scenarios.idle_split) for `idle`,
`--members`/`--online` for `group`.

They live here, apart from bench/__main__.py, so the scenarios that read them own their
meaning. Unset options are None; each scenario picks its own default (the issue's
figures in a full run, small ones with --quick).

Call order: `add_size_arguments(parser)` while building the parser, then
`Ctx(..., **size_fields(args))`.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_size_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("sizes (idle, group)")
    g.add_argument(
        "--count", type=int, help="idle: sessions to open (default 50,000; --quick 1,000)"
    )
    g.add_argument(
        "--hold", type=float, help="idle: seconds to hold them (default 60; --quick 15)"
    )
    g.add_argument(
        "--workers",
        type=int,
        help="idle: serve the stompim node as `serve --workers N` (Redis-joined; default 1)",
    )
    g.add_argument(
        "--generators",
        type=int,
        help="idle: open the sessions from this many generator processes (default 1)",
    )
    g.add_argument(
        "--members",
        type=int,
        help="group: members of the large group (default 10,000; --quick 1,000)",
    )
    g.add_argument(
        "--online", type=int, help="group: members of it online (default 2,000; --quick 200)"
    )


def size_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The Ctx fields of the size options."""
    for name in ("count", "hold", "members", "online", "workers", "generators"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SystemExit(f"--{name} must be at least 1, got {value}")
    return {"count": args.count, "hold_s": args.hold, "members": args.members,
            "online": args.online, "workers": args.workers, "generators": args.generators}
