"""GET /api/message/search as a front end calls it, after messages sent over STOMP:
Chinese and English found in the caller's own conversations only, recalled ones never,
a foreign conversationId refused like history refuses it (3005)."""

from __future__ import annotations

from urllib.parse import quote

from interop._fullnode import FullNode

from ._actors import Devices, Person

PRIVATE = "/app/chat/private"


def _q(keyword: str, extra: str = "") -> str:
    return f"/api/message/search?keyword={quote(keyword)}{extra}"


def test_search_over_stomp_sent_messages(node: FullNode, devices: Devices) -> None:
    alice, bob, carol, dave = (Person(node, n) for n in ("alice", "bob", "carol", "dave"))
    alice.befriend(bob)
    carol.befriend(dave)
    gid = alice.group_with("team", bob)
    a_dev, c_dev = devices.device(alice), devices.device(carol)
    sent = [a_dev.stored(PRIVATE, {"toUserId": bob.id, "content": text})
            for text in ("明天的会议纪要在这里", "lunch?", "Meeting notes attached")]
    group = a_dev.stored(f"/topic/chat/{gid}", {"content": "会议纪要 v2"})
    c_dev.stored(PRIVATE, {"toUserId": dave.id, "content": "会议纪要 (carol's)"})
    cid = int(sent[0]["conversation-id"])

    page = alice.call("GET", _q("会议纪要"))
    assert [m["id"] for m in page["list"]] == [int(group["message-id"]),
                                               int(sent[0]["message-id"])]
    assert page["hasMore"] is False and page["nextCursor"] is None
    assert [m["id"] for m in bob.call("GET", _q("MEETING"))["list"]
            ] == [int(sent[2]["message-id"])]
    first = alice.call("GET", _q("会议纪要", "&limit=1"))
    assert first["hasMore"] is True
    rest = alice.call("GET", _q("会议纪要", f"&cursor={first['nextCursor']}"))
    assert [m["id"] for m in first["list"] + rest["list"]] == [
        int(group["message-id"]), int(sent[0]["message-id"])]
    only = alice.call("GET", _q("会议纪要", f"&conversationId={cid}"))
    assert [m["content"] for m in only["list"]] == ["明天的会议纪要在这里"]
    carol_cid = carol.call("GET", _q("会议"))["list"][0]["conversationId"]
    alice.call("GET", _q("x", f"&conversationId={carol_cid}"), expect=3005)
    alice.call("GET", _q(""), expect=9001)

    alice.call("POST", f"/api/message/{sent[0]['message-id']}/recall")
    assert [m["id"] for m in alice.call("GET", _q("纪要"))["list"]] == [
        int(group["message-id"])]
