"""`stompim user create|disable|enable|reset-password|revoke|list`: accounts from the shell.

Every action goes through the IM domain (stompim.im.admin over the AccountService), so
the REST rules hold: field checks, the password policy, bcrypt in a worker thread,
duplicate names refused by the database's unique keys.

Passwords never appear on the command line (where `ps` and shell history would keep
them) nor in a log: `--password-stdin` reads one line from standard input, an
interactive terminal is prompted (twice), otherwise (or with `--generate-password`) a
random password is generated and printed once on standard output.

A user is named by id or username (usernames start with a letter). Output: one line
per result on stdout; problems on stderr with a hint, exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import string
import sys
import time
from typing import Any

from stompim.cli.admin_store import AdminStore, StoreUnreachable, open_admin_store
from stompim.cli.common import EXIT_PROBLEM, problem
from stompim.config import Config
from stompim.im import passwords
from stompim.im.accounts import ACTIVE_CACHE_SECONDS
from stompim.im.errors import ImError
from stompim.store.users import STATUS_ACTIVE, UserRecord

__all__ = ["add_parser", "generate_password", "run"]

DEFAULT_PAGE_SIZE = 50
GENERATED_LENGTH = 20


def add_parser(sub: Any) -> None:
    user = sub.add_parser(
        "user", help="create, disable, enable, reset the password of, or list accounts",
        description="Manage accounts in the configured database (database.url).",
    )
    user.add_argument("--timeout", type=float, default=10.0,
                      help="seconds to wait for the database and Redis (default 10)")
    actions = user.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="create an active account")
    create.add_argument("username", help="3-32 characters: a letter, then letters, digits, _")
    create.add_argument("--nickname", help="display name (default: the username)")
    create.add_argument("--phone", help="phone number (unique; no SMS code is asked)")
    _password_options(create)

    for name, text in (("disable", "disable an account and end its tokens and sessions"),
                       ("enable", "let a disabled account log in again")):
        action = actions.add_parser(name, help=text)
        action.add_argument("user", help="user id or username")

    reset = actions.add_parser(
        "reset-password", help="set a new password and end every token and session"
    )
    reset.add_argument("user", help="user id or username")
    _password_options(reset)

    revoke = actions.add_parser(
        "revoke", help="end every token and session of an account (it can log in again)"
    )
    revoke.add_argument("user", help="user id or username")

    listing = actions.add_parser("list", help="a table of accounts in id order")
    listing.add_argument("--page", type=int, default=1, help="page number, from 1")
    listing.add_argument("--size", type=int, default=DEFAULT_PAGE_SIZE,
                         help=f"accounts per page (default {DEFAULT_PAGE_SIZE}, at most 1000)")
    listing.add_argument("--status", choices=("active", "disabled"),
                         help="only accounts with this status")


def _password_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")
    source.add_argument("--generate-password", action="store_true",
                        help="generate a random password and print it once")


def generate_password(length: int = GENERATED_LENGTH) -> str:
    """Letters and digits, at least one of each (the policy's minimum)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate):
            return candidate


def read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated?) from the source the options and the terminal allow.
    Raises ImError(WEAK_PASSWORD) on a typed password the policy refuses, before any
    database work."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not args.generate_password and sys.stdin.isatty():
        password = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != password:
            raise ValueError("the two passwords differ")
    else:
        return generate_password(), True
    passwords.check_policy(password)
    return password, False


def run(config: Config, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(config, args))
    except StoreUnreachable as exc:
        return problem(str(exc), exc.hint)
    except ImError as exc:
        return problem(f"{exc.message} (code {exc.code})")
    except ValueError as exc:
        return problem(str(exc))
    except KeyboardInterrupt:
        return problem("interrupted")


async def _run(config: Config, args: argparse.Namespace) -> int:
    password: tuple[str, bool] | None = None
    if args.action in ("create", "reset-password"):
        password = read_password(args)  # before connecting: a typo costs nothing
    async with open_admin_store(config, args.timeout) as store:
        if args.action == "list":
            return await _list(store, args)
        if args.action == "create":
            assert password is not None
            return await _create(store, args, *password)
        user = await store.admin.find(args.user)
        if args.action == "enable":
            await store.admin.enable(user)
            print(f"enabled user {_name(user)}: it can log in again")
            return 0
        if args.action == "disable":
            revoked = await store.admin.disable(user)
            already = " (it was already disabled)" if user.status != STATUS_ACTIVE else ""
            print(f"disabled user {_name(user)}{already}")
        elif args.action == "revoke":
            revoked = await store.admin.revoke(user)
            print(f"credentials of user {_name(user)} revoked")
        else:
            assert password is not None
            revoked = await store.admin.reset_password(user, password[0])
            print(f"password of user {_name(user)} reset")
            _print_generated(*password)
        return _report_reach(store, revoked, disabled=args.action == "disable")


async def _create(store: AdminStore, args: argparse.Namespace, password: str,
                  generated: bool) -> int:
    user = await store.admin.create(
        username=args.username, password=password, nickname=args.nickname, phone=args.phone
    )
    print(f"created user {_name(user)} (nickname {user.nickname!r})")
    _print_generated(password, generated)
    return 0


def _print_generated(password: str, generated: bool) -> None:
    if generated:
        print(f"generated password: {password}")
        print("  (shown once; hand it over safely)")


def _report_reach(store: AdminStore, revoked: int, *, disabled: bool) -> int:
    """Say what happened to the user's tokens and sessions on the nodes."""
    if not store.reaches_nodes:
        what = "disabled account" if disabled else "older credential generation"
        print(f"  tokens: a running node refuses them within {ACTIVE_CACHE_SECONDS:g} s "
              f"(its token check reads the account: {what})")
        print("  sessions: no Redis configured (embedded node), so this process cannot reach "
              "the node; its open STOMP sessions close at its next session check "
              "(auth.session_check_ms)")
        return 0
    print(f"  tokens: {revoked} revoked in Redis (every node refuses them)")
    if store.failures:
        for failure in store.failures:
            print(f"stompim: could not reach the nodes: {failure}", file=sys.stderr)
        print("  hint: check Redis; the tokens are refused, and open STOMP sessions close at "
              "the nodes' next session check (auth.session_check_ms)", file=sys.stderr)
        return EXIT_PROBLEM
    print("  sessions: every node was told to close this user's STOMP sessions")
    return 0


async def _list(store: AdminStore, args: argparse.Namespace) -> int:
    page = await store.admin.list_users(args.page, args.size, args.status)
    rows = [("ID", "USERNAME", "NICKNAME", "STATUS", "CREATED (UTC)")]
    rows += [
        (str(u.id), u.username, _clip(u.nickname), _status(u), _time(u.created_at))
        for u in page.records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
    shown = f"page {page.page} of {max(page.pages, 1)}, {page.total} user(s)"
    if page.page < page.pages:
        shown += f"; next: --page {page.page + 1}"
    print(shown)
    return 0


def _name(user: UserRecord) -> str:
    return f"{user.id} {user.username!r}"


def _status(user: UserRecord) -> str:
    return "active" if user.status == STATUS_ACTIVE else "disabled"


def _clip(text: str, width: int = 24) -> str:
    text = text.replace("\n", " ").replace("\t", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _time(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch_ms / 1000))
