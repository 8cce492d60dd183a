"""Helpers of the node-level fault tests: a node's config, a log meter, a paced sender.

`LogMeter` measures what a node would write to its log at the CLI's default level (INFO,
the CLI's format), so a test can bound the log an outage produces. `Sender` is one
STOMP session that sends receipted chat messages at a steady rate and files every answer
by receipt-id with its time: a RECEIPT (stored when it names a `message-id`, refused when
it carries `x-error-code`) or a refusal MESSAGE on /user/queue/errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from cluster._support import connect_stomp
from stompclient import StompClient

from stompim.config import Config
from stompim.frames import Command, Frame

SECRET = "fault-tests-secret-of-stompim-nodes-0123456789"
CLI_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def node_config(node_id: str, db_url: str, redis_url: str = "", prefix: str = "stompim",
                **sections: dict[str, Any]) -> Config:
    base: dict[str, dict[str, Any]] = {
        "server": {"http_port": 0, "ws_port": 0, "tcp_port": 0, "node_id": node_id},
        "database": {"url": db_url},
        "redis": {"url": redis_url, "channel_prefix": prefix},
        "auth": {"bcrypt_rounds": 4, "jwt_secret": SECRET},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return Config().replace(**base)


class LogMeter(logging.Handler):
    """Bytes and records the `stompim` loggers emit at INFO and above, as the CLI writes
    them (tracebacks included)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter(CLI_FORMAT))
        self.bytes = 0
        self.records = 0
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record) + "\n"
        self.bytes += len(text.encode())
        self.records += 1
        if len(self.lines) < 200:
            self.lines.append(text)


@contextlib.contextmanager
def metered_log() -> Iterator[LogMeter]:
    logger = logging.getLogger("stompim")
    meter = LogMeter()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(meter)
    try:
        yield meter
    finally:
        logger.removeHandler(meter)
        logger.setLevel(level)


@dataclass
class Answer:
    at: float  # loop time
    stored: bool
    code: str = ""
    duplicate: bool = False
    message_id: str = ""


@dataclass
class Sender:
    """One STOMP session of `user_token` sending to `to_user` (see the module docstring)."""

    client: StompClient
    to_user: int
    label: str
    sent: dict[str, float] = field(default_factory=dict)  # receipt -> loop time sent
    client_ids: dict[str, str] = field(default_factory=dict)  # receipt -> clientMsgId
    receipts: dict[str, list[Answer]] = field(default_factory=dict)  # RECEIPT frames
    refusals: dict[str, list[Answer]] = field(default_factory=dict)  # errors MESSAGEs
    errors: list[Frame] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None
    progress: asyncio.Event = field(default_factory=asyncio.Event)  # set on every answer

    @classmethod
    async def open(cls, port: int, token: str, to_user: int, label: str) -> Sender:
        client = await connect_stomp(port, token)
        await client.subscribe("/user/queue/errors", f"errors-{label}")
        sender = cls(client, to_user, label)
        sender.reader = asyncio.get_running_loop().create_task(sender._read())
        return sender

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await self.client.frame(3600)
            except AssertionError:  # closed
                return
            now = loop.time()
            receipt = frame.get("receipt-id")
            if frame.command is Command.ERROR:
                self.errors.append(frame)
            elif frame.command is Command.RECEIPT and receipt is not None:
                self.receipts.setdefault(receipt, []).append(Answer(
                    now, frame.get("message-id") is not None, frame.get("x-error-code") or "",
                    frame.get("x-duplicate") == "true", frame.get("message-id") or "",
                ))
            elif frame.command is Command.MESSAGE and receipt is not None:
                code = str(orjson.loads(frame.body).get("code", ""))
                self.refusals.setdefault(receipt, []).append(Answer(now, False, code))
            self.progress.set()

    async def send(self, n: int, client_msg_id: str | None = None) -> str:
        receipt = f"{self.label}-{n}"
        cmid = client_msg_id or receipt
        self.client_ids[receipt] = cmid
        self.sent[receipt] = asyncio.get_running_loop().time()
        body = orjson.dumps({"toUserId": self.to_user, "content": f"m {receipt}",
                             "clientMsgId": cmid})
        await self.client.send_frame("SEND", {"destination": "/app/chat/private",
                                              "receipt": receipt,
                                              "content-type": "application/json"}, body)
        return receipt

    async def pace(self, rate: float, until: float, start: int = 0) -> int:
        """Send at `rate` per second until loop time `until`; returns the next number."""
        loop = asyncio.get_running_loop()
        n, began = start, loop.time()
        while loop.time() < until:
            await self.send(n)
            n += 1
            ahead = began + (n - start) / rate - loop.time()
            if ahead > 0:
                await asyncio.sleep(ahead)
        return n

    def answer_of(self, receipt: str) -> Answer | None:
        """The one answer a receipt got: its RECEIPT when there is one, else its refusal."""
        got = self.receipts.get(receipt) or self.refusals.get(receipt)
        return got[0] if got else None

    def unanswered(self) -> list[str]:
        return [r for r in self.sent if self.answer_of(r) is None]

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader
        await self.client.close()


async def all_answered(senders: list[Sender], seconds: float) -> None:
    """Wait (bounded) until every receipt of every sender has an answer."""
    deadline = time.monotonic() + seconds
    for sender in senders:
        while sender.unanswered():
            sender.progress.clear()
            left = deadline - time.monotonic()
            try:
                await asyncio.wait_for(sender.progress.wait(), max(left, 0.001))
            except TimeoutError:
                missing = sum(len(s.unanswered()) for s in senders)
                raise AssertionError(f"{missing} sends never answered") from None
