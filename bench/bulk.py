"""SET-UP ONLY: many members of one group, written straight through stompim's store.

Registering 10,000 users over REST costs one bcrypt hash each, and each must then
accept an invitation: minutes of set-up for a figure about sending. So the large-group
scenario creates its group over REST (the real path) and then inserts the other users
and their memberships here, in one transaction per table, with one bcrypt hash of the
shared bench password (at the node's cost, so logins over REST stay cheap). The rows
are the ones stompim's own repositories write for a registration
(stompim.store.users.UserRepository.create) and a join (GroupRepository.add_member +
add_to_count). Nothing here ever runs inside a measured phase.

Call order: `ids = await add_group_members(url, group_id, usernames, password, rounds)`
after the node has migrated the database and created the group.
"""

from __future__ import annotations

from collections.abc import Sequence

from stompim.im.passwords import hash_password
from stompim.im.roles import Role
from stompim.store import open_database
from stompim.store.users import STATUS_ACTIVE, now_ms

CHUNK = 1000  # rows per multi-row INSERT / per id look-up


async def add_group_members(
    url: str, group_id: int, usernames: Sequence[str], password: str, rounds: int
) -> dict[str, int]:
    """Create active users named `usernames` (password `password`) and make each an
    active member of `group_id`; returns username -> user id."""
    hashed = await hash_password(password, rounds)
    now = now_ms()
    db = await open_database(url, pool_min=1, pool_max=1)
    try:
        async with db.transaction() as tx:
            for i in range(0, len(usernames), CHUNK):
                await tx.executemany(
                    "INSERT INTO users (username, password_hash, nickname, phone, status,"
                    " created_at, updated_at) VALUES (?, ?, ?, NULL, ?, ?, ?)",
                    [(u, hashed, u, STATUS_ACTIVE, now, now) for u in usernames[i : i + CHUNK]],
                )
        ids: dict[str, int] = {}
        for i in range(0, len(usernames), CHUNK):
            part = usernames[i : i + CHUNK]
            rows = await db.fetch_all(
                "SELECT id, username FROM users WHERE username IN ("
                + ", ".join("?" * len(part)) + ")",
                part,
            )
            ids.update({str(r["username"]): int(r["id"]) for r in rows})
        missing = [u for u in usernames if u not in ids]
        if missing:
            raise RuntimeError(f"{len(missing)} bulk-inserted users not found, e.g. {missing[0]}")
        async with db.transaction() as tx:
            member_ids = [ids[u] for u in usernames]
            for i in range(0, len(member_ids), CHUNK):
                await tx.executemany(
                    "INSERT INTO group_member (group_id, user_id, role, nickname, muted, status,"
                    " joined_at, updated_at) VALUES (?, ?, ?, '', 0, 1, ?, ?)",
                    [(group_id, uid, int(Role.MEMBER), now, now)
                     for uid in member_ids[i : i + CHUNK]],
                )
            await tx.execute(
                "UPDATE chat_group SET member_count = member_count + ?, updated_at = ?"
                " WHERE id = ?",
                (len(member_ids), now, group_id),
            )
        return ids
    finally:
        await db.close()
