"""Accounts and STOMP sessions on a node, as the send-path tests need them.

`Rest` (from the cluster tests) registers and befriends over the node's REST API;
`chat(...)` is the JSON body of a private chat SEND; `answers(...)` reads the answer
frames of a pipelined client until every receipt it asked for is answered;
`history(...)` pages through a conversation over REST.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from cluster._support import PASSWORD, Rest
from stompclient import StompClient

from stompim.frames import Command, Frame

__all__ = ["PRIVATE", "Rest", "answers", "chat", "connected", "history", "login", "send_chat"]

PRIVATE = "/app/chat/private"


def chat(to: int, text: str, client_msg_id: str | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"toUserId": to, "type": "text", "content": text, **extra}
    if client_msg_id is not None:
        body["clientMsgId"] = client_msg_id
    return orjson.dumps(body)


async def connected(port: int, token: str) -> StompClient:
    client = await StompClient.tcp(port)
    reply = await client.connect(token=token)
    assert reply.command is Command.CONNECTED, reply
    return client


async def send_chat(client: StompClient, receipt: str, body: bytes,
                    destination: str = PRIVATE, **headers: str) -> None:
    await client.send_frame("SEND", {"destination": destination, "receipt": receipt,
                                     "content-type": "application/json", **headers}, body)


async def answers(client: StompClient, expected: int, timeout: float = 30.0) -> list[Frame]:
    """The next RECEIPTs (and a closing ERROR, if one comes) until `expected` receipts
    were answered; MESSAGEs are skipped."""
    got: list[Frame] = []
    async with asyncio.timeout(timeout):
        while sum(f.command is Command.RECEIPT for f in got) < expected:
            frame = await client.frame(timeout)
            if frame.command is Command.MESSAGE:
                continue
            got.append(frame)
            if frame.command is Command.ERROR:
                break
    return got


async def login(rest: Rest, name: str) -> str:
    """A fresh token (an embedded node forgets its tokens when it restarts)."""
    data = await rest.ok("POST", "/api/user/login", {"username": name, "password": PASSWORD})
    return str(data["token"])


async def history(rest: Rest, token: str, conversation: int) -> list[dict[str, Any]]:
    """Every message of `conversation`, ascending seq (pages of 100)."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await rest.ok(
            "GET", f"/api/message/history?conversationId={conversation}&afterSeq={after}"
            "&limit=100", token=token)
        out.extend(page)
        if len(page) < 100:
            return out
        after = page[-1]["seq"]
