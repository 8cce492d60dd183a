"""The Publisher the IM layer uses."""

from __future__ import annotations

from stompclient import StompClient

from .conftest import Harness


async def test_close_user_sessions_by_token(hub: Harness) -> None:
    with_token = await StompClient.websocket(hub.ws_port, path="/ws?token=pb")
    hub.clients.append(with_token)
    assert (await with_token.connect("", "")).command.value == "CONNECTED"
    with_login = await hub.connected("tcp", "bob")
    await hub.broker.publisher.close_user_sessions(2, "logged out", token_id="pb")
    frames = await with_token.closed()
    assert frames[-1].command.value == "ERROR" and frames[-1].get("message") == "logged out"
    assert (await with_login.send("/topic/x", b"", receipt="r")) is not None
    await hub.broker.publisher.close_user_sessions(2, "account disabled")
    frames = await with_login.closed()
    assert frames[-1].get("message") == "account disabled"


async def test_end_subscriptions(hub: Harness) -> None:
    alice = await hub.connected("tcp", "alice")
    await alice.subscribe("/topic/group-7", sub_id="g")
    await alice.subscribe("/topic/other", sub_id="o")
    await hub.broker.publisher.end_subscriptions(1, "/topic/group-7", "left the group")
    await hub.broker.publisher.publish("/topic/group-7", b"gone")
    await hub.broker.publisher.publish("/topic/other", b"kept")
    msg = await alice.frame()
    assert msg.body == b"kept" and msg.get("subscription") == "o"


async def test_publish_to_generic_queue_is_held(hub: Harness) -> None:
    await hub.broker.publisher.publish("/queue/jobs", b"j", {"destination": "ignored"})
    consumer = await hub.connected("tcp", "carol")
    await consumer.subscribe("/queue/jobs")
    msg = await consumer.frame()
    assert msg.body == b"j" and msg.get("destination") == "/queue/jobs"
