"""What the timeline (issue 16) adds to a history page: the per-viewer filter (messages
deleted for the viewer, their clear floor) and the reactions with "mine".

One private conversation of `--messages` messages (stored in bulk, not through the send
path), 10% of them with reactions from both users, 10% deleted for the viewer, a clear
floor at 1%. Then `--pages` history pages of 20 at random `beforeSeq`, timed two ways on
the same database:

* `plain`: MessageRepository.page without a viewer (the history query before issue 16);
* `timeline`: page(viewer=...) + MessageActions.present (what GET /api/message/history
  runs now, minus the access check both share).

    flock /work/.bench.lock .venv/bin/python -m bench.timeline --db both

Writes bench/results/timeline.json (p50 / p99 / mean in ms per way and database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from stompim.config import ImConfig
from stompim.im.conversations import ConversationService
from stompim.im.message_actions import MessageActions
from stompim.im.publisher import NullPublisher
from stompim.store.conversations import ConversationRepository
from stompim.store.database import Database, open_database
from stompim.store.messages import MessageRepository
from stompim.store.migrate import migrate

from . import mariadb

RESULTS = Path(__file__).parent / "results" / "timeline.json"
SENDER, VIEWER = 1, 2
CHUNK = 2000


async def fill(db: Database, count: int) -> int:
    """The conversation's id, after storing `count` messages and the timeline rows."""
    conv = await ConversationRepository(db).ensure_private(SENDER, VIEWER, 1)
    rows = [
        (conv.id, seq, SENDER if seq % 2 else VIEWER, 1, VIEWER if seq % 2 else SENDER,
         "text", f"message number {seq} of the timeline bench", None, None, 0, 1000 + seq)
        for seq in range(1, count + 1)
    ]
    for start in range(0, count, CHUNK):
        await db.executemany(
            "INSERT INTO chat_message (conversation_id, seq, sender_id, chat_type, target_id,"
            " msg_type, content, extra, client_msg_id, status, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows[start:start + CHUNK],
        )
    await db.execute("UPDATE chat_conversation SET last_seq = ? WHERE id = ?", (count, conv.id))
    ids = [int(r["id"]) for r in await db.fetch_all(
        "SELECT id FROM chat_message WHERE conversation_id = ? ORDER BY seq", (conv.id,))]
    rng = random.Random(16)
    reacted = rng.sample(ids, count // 10)
    reactions = [(mid, uid, emoji, 1) for mid in reacted for uid, emoji in
                 ((SENDER, "\N{THUMBS UP SIGN}"), (VIEWER, "\N{THUMBS UP SIGN}"),
                  (VIEWER, "\N{FACE WITH TEARS OF JOY}"))]
    hidden = [(VIEWER, mid, conv.id, 1) for mid in rng.sample(ids, count // 10)]
    for start in range(0, len(reactions), CHUNK):
        await db.executemany(
            "INSERT INTO chat_reaction (message_id, user_id, emoji, created_at)"
            " VALUES (?, ?, ?, ?)", reactions[start:start + CHUNK])
    for start in range(0, len(hidden), CHUNK):
        await db.executemany(
            "INSERT INTO chat_hidden (user_id, message_id, conversation_id, created_at)"
            " VALUES (?, ?, ?, ?)", hidden[start:start + CHUNK])
    await db.execute(
        "INSERT INTO chat_cleared (conversation_id, user_id, seq, updated_at) VALUES (?, ?, ?, 1)",
        (conv.id, VIEWER, count // 100),
    )
    return conv.id


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


async def measure(url: str, count: int, pages: int) -> dict[str, Any]:
    db = await open_database(url)
    try:
        await migrate(db)
        started = time.perf_counter()
        cid = await fill(db, count)
        filled = time.perf_counter() - started
        messages = MessageRepository(db)
        conversations = ConversationService(
            db=db, publisher=NullPublisher(), friends=None, groups=None, users=None  # type: ignore[arg-type]
        )
        timeline = MessageActions(
            config=ImConfig(), db=db, publisher=NullPublisher(), conversations=conversations,
            clock=lambda: 0, linked=lambda m: m,
        )
        rng = random.Random(6)
        befores = [rng.randint(count // 50, count + 1) for _ in range(pages)]
        plain: list[float] = []
        viewed: list[float] = []
        shown = 0
        for before in befores:  # interleaved, so both ways see the same cache state
            t0 = time.perf_counter()
            await messages.page(cid, before_seq=before, limit=20)
            t1 = time.perf_counter()
            page = await messages.page(cid, before_seq=before, limit=20, viewer=VIEWER)
            shown += len(await timeline.present(VIEWER, page))
            t2 = time.perf_counter()
            plain.append(t1 - t0)
            viewed.append(t2 - t1)
        return {
            "messages": count, "pages": pages, "fill_s": round(filled, 1),
            "messages_per_timeline_page": round(shown / pages, 2),
            "plain": summary(plain), "timeline": summary(viewed),
        }
    finally:
        await db.close()


async def run(dbs: list[str], count: int, pages: int, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for which in dbs:
        if which == "sqlite":
            path = tmp / "timeline-bench.db"
            path.unlink(missing_ok=True)
            out["sqlite"] = await measure(f"sqlite:///{path}", count, pages)
            path.unlink(missing_ok=True)
        else:
            url, name = await mariadb.create_database("timeline")
            try:
                out["mariadb"] = await measure(url, count, pages)
            finally:
                await mariadb.drop_database(name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb", "both"], default="both")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--tmp", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    dbs = ["sqlite", "mariadb"] if args.db == "both" else [args.db]
    load_before = [round(v, 2) for v in os.getloadavg()]
    results = asyncio.run(run(dbs, args.messages, args.pages, args.tmp))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    record = {
        "command": f"python -m bench.timeline --db {args.db} --messages {args.messages}"
                   f" --pages {args.pages}",
        "commit": commit, "machine": platform.node(), "load_before": load_before,
        "results": results,
    }
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
