"""Wiring of a whole node from its Config: what `stomp.allow_anonymous` lets in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stompim.app import Node
from stompim.config import Config
from stompim.errors import ConfigError
from stompim.frames import Command, Frame, FrameParser, encode


def node_config(tmp_path: Path, **stomp: object) -> Config:
    return Config().replace(
        server={"http_port": 0, "ws_port": 0, "tcp_port": 0},
        database={"url": f"sqlite:///{tmp_path / 'node.db'}"},
        stomp=stomp,
    )


async def connect_without_credentials(port: int) -> Frame:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(encode(Frame.build(Command.CONNECT, {"accept-version": "1.2", "host": "x"})))
        parser = FrameParser()
        while True:
            data = await asyncio.wait_for(reader.read(65536), 5)
            assert data, "connection closed without a reply"
            frames = parser.feed(data)
            if frames:
                return frames[0]
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("allow", [False, True])
async def test_anonymous_connect_follows_the_config(tmp_path: Path, allow: bool) -> None:
    node = Node(node_config(tmp_path, allow_anonymous=allow))
    await node.start()
    try:
        reply = await connect_without_credentials(node.ports.tcp)
    finally:
        await node.stop()
    assert reply.command is (Command.CONNECTED if allow else Command.ERROR)


def test_production_refuses_anonymous_access(tmp_path: Path) -> None:
    cfg = node_config(tmp_path, allow_anonymous=True).replace(
        server={"production": True}, auth={"jwt_secret": "p" * 40}
    )
    with pytest.raises(ConfigError, match="allow_anonymous"):
        cfg.validate()
