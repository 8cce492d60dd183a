"""History paging over 1,000 messages (issue 5): sent over STOMP (pipelined SENDs, every
one with a receipt), then paged backwards over REST with beforeSeq and limit 100, as a
front end scrolls up. Every message is seen exactly once, in order.
"""

from __future__ import annotations

import json

from interop._fullnode import FullNode

from ._actors import Devices, Person

TOTAL = 1000
PAGE = 100


def test_history_pages_back_through_a_thousand_messages(node: FullNode, devices: Devices) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    dev = devices.device(alice)
    receipts = []
    for n in range(1, TOTAL + 1):  # bounded: TOTAL sends, then one bounded wait
        receipt = f"h-{n}"
        body = {"toUserId": bob.id, "type": "text", "content": f"message {n}",
                "clientMsgId": f"k{n}"}
        dev.conn.send("/app/chat/private", json.dumps(body), content_type="application/json",
                      receipt=receipt)
        receipts.append(receipt)
    dev.log.wait(lambda: len(dev.log.receipts) >= TOTAL, f"{TOTAL} receipts", timeout=60)
    assert dev.log.receipts == receipts  # in order: the session handles SENDs one by one
    last = dev.log.receipt_headers[receipts[-1]]
    assert last["seq"] == str(TOTAL)
    cid = last["conversation-id"]

    seen: list[dict[str, object]] = []
    page = bob.history(cid, limit=PAGE)  # the newest page first
    pages = 0
    while page:
        pages += 1
        assert pages <= TOTAL // PAGE, "paging did not end"
        assert len(page) == PAGE
        assert [m["seq"] for m in page] == sorted(m["seq"] for m in page)  # ascending in a page
        seen[:0] = page
        page = bob.history(cid, beforeSeq=page[0]["seq"], limit=PAGE)
    assert pages == TOTAL // PAGE
    assert [m["seq"] for m in seen] == list(range(1, TOTAL + 1))
    assert [m["content"] for m in seen] == [f"message {n}" for n in range(1, TOTAL + 1)]
    assert len({m["id"] for m in seen}) == TOTAL
    ids = [m["id"] for m in seen]
    assert ids == sorted(ids)

    # forwards too (afterSeq), as a client filling a gap does
    forward: list[dict[str, object]] = []
    after = 0
    while len(forward) < TOTAL:
        chunk = alice.history(cid, afterSeq=after, limit=PAGE)
        assert chunk, f"forward paging stopped at seq {after}"
        forward += chunk
        after = int(chunk[-1]["seq"])  # type: ignore[call-overload]
    assert [m["id"] for m in forward] == ids
    assert alice.history(cid, afterSeq=TOTAL, limit=PAGE) == []
    # limit is bounded by the API
    bob.call("GET", f"/api/message/history?conversationId={cid}&limit=101", expect=9001)
    [conv] = bob.call("GET", "/api/conversation/list")["list"]
    assert conv["unreadCount"] == TOTAL and conv["lastMessage"]["content"] == f"message {TOTAL}"
