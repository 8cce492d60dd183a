"""`stompim user ...` on SQLite and on MariaDB + Redis, through `main()` as a shell runs it."""

from __future__ import annotations

import asyncio
import re

import pytest

from stompim.im import passwords
from stompim.store import UserRepository, open_database

from ._support import Cli

PASSWORD = "first-passw0rd"


@pytest.fixture
def admin(cli: Cli, node_backend: dict[str, dict[str, str]]) -> Cli:
    """`cli` on the backend of the `node_backend` fixture, its schema created."""
    cli.env["STOMPIM_DATABASE_URL"] = node_backend["database"]["url"]
    redis = node_backend["redis"]
    cli.env["STOMPIM_REDIS_URL"] = redis["url"]
    if redis["url"]:
        cli.env["STOMPIM_REDIS_CHANNEL_PREFIX"] = redis["channel_prefix"]
    assert cli("migrate").code == 0
    return cli


def stored(cli: Cli, username: str) -> tuple[int, str]:
    """(status, password hash) of the row, read straight from the database."""

    async def read() -> tuple[int, str]:
        db = await open_database(cli.env["STOMPIM_DATABASE_URL"])
        try:
            user = await UserRepository(db).by_username(username)
            assert user is not None, username
            return user.status, user.password_hash
        finally:
            await db.close()

    return asyncio.run(read())


def password_matches(cli: Cli, username: str, password: str) -> bool:
    _, hashed = stored(cli, username)
    return asyncio.run(passwords.verify_password(password, hashed, 4))


def table(lines: list[str]) -> list[list[str]]:
    """Rows of `user list` (header first), cells split on runs of 2+ spaces."""
    return [re.split(r"\s{2,}", line) for line in lines if not line.startswith("page ")]


def test_create_list_disable_enable_reset(admin: Cli) -> None:
    created = admin("user", "create", "alice", "--nickname", "Alice A", "--password-stdin",
                    stdin=PASSWORD + "\n")
    assert created.code == 0, created.err
    assert re.fullmatch(r"created user \d+ 'alice' \(nickname 'Alice A'\)", created.lines[0])
    assert password_matches(admin, "alice", PASSWORD)
    assert PASSWORD not in created.out + created.err

    generated = admin("user", "create", "bob", "--generate-password")
    assert generated.code == 0, generated.err
    secret = generated.lines[1].removeprefix("generated password: ")
    assert len(secret) == 20 and password_matches(admin, "bob", secret)
    assert passwords.check_policy(secret) == secret

    rows = table(admin("user", "list").lines)
    assert rows[0] == ["ID", "USERNAME", "NICKNAME", "STATUS", "CREATED (UTC)"]
    assert [r[1:4] for r in rows[1:]] == [["alice", "Alice A", "active"],
                                          ["bob", "bob", "active"]]
    alice_id = rows[1][0]

    disabled = admin("user", "disable", "alice")
    assert disabled.code == 0, disabled.err
    assert disabled.lines[0] == f"disabled user {alice_id} 'alice'"
    assert stored(admin, "alice")[0] == 0
    only_disabled = admin("user", "list", "--status", "disabled")
    assert [r[1] for r in table(only_disabled.lines)[1:]] == ["alice"]
    assert only_disabled.lines[-1] == "page 1 of 1, 1 user(s)"

    assert admin("user", "enable", alice_id).code == 0  # by id this time
    assert stored(admin, "alice")[0] == 1

    reset = admin("user", "reset-password", "alice", "--password-stdin",
                  stdin="second-passw0rd\n")
    assert reset.code == 0, reset.err
    assert password_matches(admin, "alice", "second-passw0rd")
    assert not password_matches(admin, "alice", PASSWORD)

    second_page = admin("user", "list", "--size", "1", "--page", "2")
    assert [r[1] for r in table(second_page.lines)[1:]] == ["bob"]
    assert second_page.lines[-1] == "page 2 of 2, 2 user(s)"
    first_page = admin("user", "list", "--size", "1")
    assert first_page.lines[-1] == "page 1 of 2, 2 user(s); next: --page 2"


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (("create", "carol", "--password-stdin"), "short1\n", "code 1007"),
        (("create", "carol", "--password-stdin"), "lettersonly\n", "code 1007"),
        (("create", "9carol", "--generate-password"), "", "username"),
        (("create", "dave", "--phone", "not-a-phone", "--generate-password"), "", "phone"),
        (("create", "alice", "--generate-password"), "", "username already exists (code 1001)"),
        (("disable", "nobody"), "", "no user 'nobody' (code 1004)"),
        (("enable", "99999999999999999999999"), "", "code 1004"),
        (("reset-password", "alice", "--password-stdin"), "weak\n", "code 1007"),
        (("list", "--size", "0"), "", "size: must be 1 to 1000"),
        (("list", "--page", "0"), "", "page: must be 1 or more"),
    ],
)
def test_refusals_exit_1_and_change_nothing(
    admin: Cli, argv: tuple[str, ...], stdin: str, message: str
) -> None:
    assert admin("user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n").code == 0
    result = admin("user", *argv, stdin=stdin)
    assert result.code == 1
    assert message in result.err, result.err
    assert [r[1] for r in table(admin("user", "list").lines)[1:]] == ["alice"]
    assert password_matches(admin, "alice", PASSWORD)


def test_missing_sqlite_file_is_not_created(cli: Cli) -> None:
    cli.env["STOMPIM_DATABASE_URL"] = "sqlite:///./typo/im.db"
    result = cli("user", "list")
    assert result.code == 1
    assert "no database file at ./typo/im.db" in result.err
    assert "stompim migrate" in result.err


def test_unreachable_database_is_reported_in_time(cli: Cli, closed_port: int) -> None:
    cli.env["STOMPIM_DATABASE_URL"] = f"mysql://root:pw@127.0.0.1:{closed_port}/im"
    result = cli("user", "--timeout", "3", "list")
    assert result.code == 1
    assert f"cannot use the database mysql://root:***@127.0.0.1:{closed_port}/im" in result.err
    assert "stompim doctor" in result.err
    assert ":pw@" not in result.err


def test_unreachable_redis_is_reported(cli: Cli, closed_port: int) -> None:
    assert cli("migrate").code == 0
    cli.env["STOMPIM_REDIS_URL"] = f"redis://127.0.0.1:{closed_port}/0"
    result = cli("user", "--timeout", "3", "disable", "1")
    assert result.code == 1
    assert f"cannot use Redis at redis://127.0.0.1:{closed_port}/0" in result.err
