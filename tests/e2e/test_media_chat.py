"""Media in chat, end to end (issue 14): upload over REST, an image message over STOMP,
the peer's MESSAGE carrying the signed URL and thumbnail, the peer's download, and
the refusals of a non-member and of a tampered link.

Runs on both deployments (SQLite + in-process KV; MariaDB + Redis) and both stores
(local disk; moto's S3 server, where downloads redirect to the store).
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
from typing import Any

from interop._fullnode import FullNode
from PIL import Image

from ._actors import Devices, Person, json_of


def upload(node: FullNode, person: Person, content: bytes, name: str, purpose: str = "chat") -> Any:
    """POST /api/file/upload as multipart/form-data, as a browser's FormData sends it."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n{purpose}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{node.ports.http}/api/file/upload",
        data=body,
        method="POST",
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Bearer {person.token}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        envelope = json.load(response)
    assert envelope["code"] == 200, envelope
    return envelope["data"]


def fetch(url: str, token: str | None = None) -> tuple[int, bytes]:
    """GET (redirects followed, as a browser's <img> does); (status, body)."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read()


def test_image_message_reaches_the_peer_with_links_and_only_members_read_it(
    start_node: Any, devices: Devices, media_section: dict[str, Any]
) -> None:
    node: FullNode = start_node(media=media_section)
    alice, bob, carol = Person(node, "alice"), Person(node, "bob"), Person(node, "carol")
    alice.befriend(bob)
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), (20, 120, 220)).save(picture, "PNG")
    uploaded = upload(node, alice, picture.getvalue(), "sea.png")
    assert uploaded["contentType"] == "image/png" and (uploaded["width"], uploaded["height"]) == (
        640,
        480,
    )

    bob_phone = devices.device(bob)
    bob_phone.subscribe("/user/queue/chat", "chat")
    receipt = devices.device(alice).stored(
        "/app/chat/private", {"toUserId": bob.id, "type": "image", "fileId": uploaded["fileId"]}
    )
    assert "x-error-code" not in receipt and int(receipt["message-id"]) > 0

    [delivered] = bob_phone.settled("chat", 1, "the image message")
    extra = json_of(delivered)["extra"]
    assert extra["fileId"] == uploaded["fileId"] and extra["mime"] == "image/png"
    assert (extra["width"], extra["height"], extra["name"]) == (640, 480, "sea.png")
    base = f"http://127.0.0.1:{node.ports.http}/api/file/{uploaded['fileId']}"
    assert extra["url"].startswith(base + "?exp=") and "&sig=" in extra["url"]
    assert extra["thumbnail"].startswith(base + "/thumbnail?exp=")

    status, image = fetch(extra["url"])  # no token: the signed URL is the proof
    assert status == 200
    with Image.open(io.BytesIO(image)) as got:
        assert got.format == "PNG" and got.size == (640, 480)
    status, thumb = fetch(extra["thumbnail"])
    assert status == 200
    with Image.open(io.BytesIO(thumb)) as got:
        assert max(got.size) <= 320

    status, refusal = fetch(f"{base}/info", token=carol.token)  # not in the conversation
    assert status == 403 and json.loads(refusal)["code"] == 6005
    status, refusal = fetch(base, token=carol.token)
    assert status == 403
    status, _ = fetch(f"{base}/info", token=bob.token)
    assert status == 200
    bob_phone.subscribe("/user/queue/errors", "errors")  # a file that does not exist
    receipt_id = bob_phone.send_json(
        "/app/chat/private", {"toUserId": alice.id, "type": "file", "fileId": 10**9}
    )
    [refusal] = bob_phone.wait_on("errors", 1, "the refusal of an unknown fileId")
    assert refusal.headers["code"] == "6004" and refusal.headers["receipt-id"] == receipt_id

    tampered = extra["url"].replace("sig=", "sig=A")
    status, refusal = fetch(tampered)
    assert status == 403 and json.loads(refusal)["code"] == 6007
