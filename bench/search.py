"""Message search latency over a large table on MariaDB (issue 16).

`python -m bench.search --messages 1000000 --queries 300 --time-limit 1200`

1. a throw-away MariaDB database, migrated (so `chat_message_search` and its FULLTEXT
   index are stompim's own); `--users` users in private conversations (`--pairs-per-user`
   each) and groups of `--group-size`;
2. `--messages` messages of 3 to 8 words drawn from a Chinese and an English vocabulary
   (deterministic: seed 16), loaded with multi-row INSERTs into `chat_message` and the
   index table through `stompim.store.search_index.index_rows` (the FULLTEXT index is
   dropped while loading and built once at the end: a load shortcut; queries then meet
   the same index a node maintains row by row);
3. `--queries` searches through `stompim.store.search.MessageSearch.find` (what
   `GET /api/message/search` runs), by users drawn at random, over five kinds of
   keyword: a rare Chinese word, a common Chinese word, an English word start, a Chinese
   plus English pair, a single Chinese character (the scan fallback); p50/p99/max per
   kind and overall. Bounded by `--time-limit` seconds for the whole run.

Results: bench/results/search.json and search.md (with the command line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bench import mariadb
from bench.measure import log
from stompim.store import Timeouts, migrate, open_database
from stompim.store.search import MessageSearch
from stompim.store.search_index import SEARCH_TABLE, index_rows

RESULTS = Path(__file__).resolve().parent / "results"
CHARS = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动"
         "同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自"
         "二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日"
         "那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变")
ENGLISH = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
           "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
           "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu",
           "meeting", "report", "deploy", "release", "invoice", "budget", "review", "design",
           "lunch", "dinner", "weekend", "holiday", "server", "client", "update", "ticket")
BATCH = 2000


def vocabulary(rng: random.Random) -> tuple[list[str], list[str]]:
    chinese = sorted({rng.choice(CHARS) + rng.choice(CHARS) for _ in range(3000)})
    english = [w + suffix for w in ENGLISH for suffix in ("", "s", "ing", "ed", "er")]
    return chinese, english


def zipf_pick(rng: random.Random, words: list[str]) -> str:
    """Skewed: the first words are common, the last ones rare."""
    index = min(int(rng.paretovariate(1.2)) - 1, len(words) - 1)
    return words[index]


async def load(db: Any, args: argparse.Namespace, rng: random.Random,
               chinese: list[str], english: list[str]) -> dict[str, Any]:
    users = args.users
    convs: list[tuple[int, int, int]] = []  # (conversation id, sender, target)
    now = 1_700_000_000_000
    rows: list[tuple[Any, ...]] = []
    pairs = set()
    for u in range(1, users + 1):
        for _ in range(args.pairs_per_user):
            v = rng.randint(1, users)
            if v != u:
                pairs.add((min(u, v), max(u, v)))
    for a, b in sorted(pairs):
        rows.append((1, a, b, None, f"p:{a}:{b}", 0, now, now))
    groups = max(1, users * args.groups_per_user // args.group_size)
    members: dict[int, list[int]] = {}
    for g in range(1, groups + 1):
        members[g] = rng.sample(range(1, users + 1), args.group_size)
        rows.append((2, None, None, g, f"g:{g}", 0, now, now))
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        await db.execute(
            "INSERT INTO chat_conversation (chat_type, user_a, user_b, group_id, pair_key,"
            " last_seq, created_at, updated_at) VALUES "
            + ", ".join("(?, ?, ?, ?, ?, ?, ?, ?)" for _ in chunk),
            [v for row in chunk for v in row],
        )
    for r in await db.fetch_all("SELECT id, chat_type, user_a, user_b, group_id"
                                " FROM chat_conversation"):
        if int(r["chat_type"]) == 1:
            convs.append((int(r["id"]), int(r["user_a"]), int(r["user_b"])))
        else:
            convs.append((int(r["id"]), members[int(r["group_id"])][0], int(r["group_id"])))
    group_rows = [(g, u, 0, 0, now, now) for g, us in members.items() for u in us]
    for start in range(0, len(group_rows), BATCH):
        chunk = group_rows[start:start + BATCH]
        await db.execute(
            "INSERT INTO group_member (group_id, user_id, role, muted, joined_at, updated_at)"
            " VALUES "
            + ", ".join("(?, ?, ?, ?, ?, ?)" for _ in chunk),
            [v for row in chunk for v in row],
        )
    await db.execute(f"ALTER TABLE {SEARCH_TABLE} DROP INDEX ft_chat_message_search")
    seqs: dict[int, int] = {}
    started = time.monotonic()
    next_id = 1
    for start in range(0, args.messages, BATCH):
        count = min(BATCH, args.messages - start)
        batch: list[tuple[Any, ...]] = []
        indexed: list[tuple[int, int, str]] = []
        for _ in range(count):
            cid, sender, target = rng.choice(convs)
            seq = seqs.get(cid, 0) + 1
            seqs[cid] = seq
            words = [zipf_pick(rng, chinese) if rng.random() < 0.6 else zipf_pick(rng, english)
                     for _ in range(rng.randint(3, 8))]
            text = " ".join(words) if rng.random() < 0.5 else "".join(words)
            kind = 1 if cid <= len(pairs) else 2
            batch.append((next_id, cid, seq, sender, kind, target, "text", text, now + next_id))
            indexed.append((next_id, cid, text))
            next_id += 1
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO chat_message (id, conversation_id, seq, sender_id, chat_type,"
                " target_id, msg_type, content, created_at) VALUES "
                + ", ".join("(?, ?, ?, ?, ?, ?, ?, ?, ?)" for _ in batch),
                [v for row in batch for v in row],
            )
            await index_rows(tx, "mysql", indexed)
        if start // BATCH % 50 == 0:
            log(f"loaded {start + count:,} messages in {time.monotonic() - started:.0f} s")
    await db.execute(  # the conversations' last_seq, as storing messages keeps it
        "UPDATE chat_conversation c JOIN (SELECT conversation_id, MAX(seq) AS s FROM"
        " chat_message GROUP BY conversation_id) x ON x.conversation_id = c.id"
        " SET c.last_seq = x.s"
    )
    loaded = time.monotonic() - started
    build_start = time.monotonic()
    await db.execute(
        f"ALTER TABLE {SEARCH_TABLE} ADD FULLTEXT KEY ft_chat_message_search (tokens)"
    )
    built = time.monotonic() - build_start
    return {
        "users": users, "private_conversations": len(pairs), "groups": groups,
        "group_size": args.group_size, "messages": args.messages,
        "load_seconds": round(loaded, 1), "fulltext_build_seconds": round(built, 1),
        "members": members,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.time_limit
    rng = random.Random(16)
    chinese, english = vocabulary(rng)
    url, name = await mariadb.create_database("search")
    db = await open_database(url, pool_min=1, pool_max=2,
                             timeouts=Timeouts(query=900.0))  # the index build
    try:
        await migrate(db)
        shape = await load(db, args, rng, chinese, english)
        members: dict[int, list[int]] = shape.pop("members")
        groups_of: dict[int, list[int]] = {}
        for g, us in members.items():
            for u in us:
                groups_of.setdefault(u, []).append(g)
        search = MessageSearch(db)
        kinds = {
            "rare Chinese word": lambda: chinese[-1 - rng.randrange(200)],
            "common Chinese word": lambda: chinese[rng.randrange(3)],
            "English word start": lambda: english[rng.randrange(len(english))][:4],
            "Chinese + English": lambda: (chinese[rng.randrange(20)] + " "
                                          + english[rng.randrange(len(english))]),
            "one Chinese character (scan)": lambda: rng.choice(CHARS),
        }
        timings: dict[str, list[float]] = {k: [] for k in kinds}
        hits: dict[str, int] = dict.fromkeys(kinds, 0)
        done = 0
        while done < args.queries and time.monotonic() < deadline:
            for kind, make in kinds.items():
                user = rng.randint(1, args.users)
                keyword = make()
                t0 = time.perf_counter()
                found = await search.find(user, groups_of.get(user, []), keyword, limit=21)
                timings[kind].append((time.perf_counter() - t0) * 1000)
                hits[kind] += len(found)
                done += 1
        every = [t for ts in timings.values() for t in ts]
        result = {
            **shape,
            "queries": len(every),
            "overall_ms": {"p50": round(percentile(every, 50), 2),
                           "p99": round(percentile(every, 99), 2),
                           "max": round(max(every), 2)},
            "by_kind_ms": {
                k: {"n": len(ts), "p50": round(percentile(ts, 50), 2),
                    "p99": round(percentile(ts, 99), 2), "max": round(max(ts), 2),
                    "mean_hits": round(hits[k] / len(ts), 1)}
                for k, ts in timings.items() if ts
            },
            "mariadb": (await db.fetch_val("SELECT VERSION()")),
            "command": "python -m bench.search " + shlex.join(sys.argv[1:]),
            "timed_out": time.monotonic() >= deadline,
        }
        return result
    finally:
        await db.close()
        await mariadb.drop_database(name)


def write(result: dict[str, Any]) -> None:
    (RESULTS / "search.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    lines = [
        "# Message search over a large table on MariaDB (issue 16)",
        "",
        f"Command: `flock /work/.bench.lock .venv/bin/{result['command']}` "
        f"(MariaDB {result['mariadb']}; 2 shared cores).",
        "",
        f"{result['messages']:,} messages in {result['private_conversations']:,} private "
        f"conversations of {result['users']:,} users and {result['groups']} groups of "
        f"{result['group_size']}; loaded in {result['load_seconds']} s, FULLTEXT index built "
        f"in {result['fulltext_build_seconds']} s. {result['queries']} searches "
        "(limit 21, as a page of 20 asks) by random users over their own conversations.",
        "",
        "| keyword | searches | p50 ms | p99 ms | max ms | hits per search |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, row in result["by_kind_ms"].items():
        lines.append(f"| {kind} | {row['n']} | {row['p50']} | {row['p99']} | {row['max']} |"
                     f" {row['mean_hits']} |")
    o = result["overall_ms"]
    lines += [f"| **all** | {result['queries']} | {o['p50']} | {o['p99']} | {o['max']} | |", ""]
    (RESULTS / "search.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--pairs-per-user", type=int, default=5)
    parser.add_argument("--groups-per-user", type=int, default=2)
    parser.add_argument("--group-size", type=int, default=50)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--time-limit", type=float, default=1500)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps({k: v for k, v in result.items() if k != "command"}, indent=2,
                     ensure_ascii=False))
    if not args.no_write:
        write(result)


if __name__ == "__main__":
    main()
