"""The SEND fast path: plain SENDs to generic destinations, from bytes to delivery.

Enabled by config `stomp.send_fast_path` (default true).  Why it exists: a client
streaming SENDs to a topic or queue (1->1, fan-out) spends most of the broker's time
per message on work the general path does for every frame: a Frame with a tuple of
decoded headers, a dispatch through the command table, header look-ups, a filtered
copy of the headers, a Message that encodes them again.  A plain SEND needs none of
it: its header lines, as received, are already the header lines of its MESSAGE.

What it takes (`take_sends`), at a frame boundary of a chunk, while the session is
CONNECTED with nothing held or waiting: whole SEND frames whose head has LF line ends,
is within the limits the parser applies (line length, header count, frame size), is
valid UTF-8, and needs no escaping in any STOMP version (no backslash, no CR, exactly
one ``:`` per header line); with one ``destination`` header, at most one ``receipt``
and one ``content-length`` (canonical digits, the body followed by NUL), and none of
``transaction``, ``message-id``, ``subscription``, ``ack``, ``redelivered``; sent to a
destination the rules route as it is written, with no DestinationHandler (generic
``/topic/**`` and ``/queue/**``).  Heart-beat LFs between frames are skipped (counted
in the parser's `heartbeats`).  At the first byte it does not take it stops, before
touching any state for that frame, and the session hands the rest of the chunk to its
parser (`FrameParser.feed`): the general path judges everything else, errors
included.  A frame the parser held over from the previous chunk is finished by the
parser first (`FrameParser.feed_held`).

What it does per SEND is what the general path does (stompim.broker.send,
`perform_send`, and the receipt answered by SessionCore.dispatch), in the same order,
with the same counters: the message (`plain_message`, its tail cut from the SEND's
bytes) goes through the exchange, a congested consumer throttles the publisher (and
the rest of the chunk waits in the backlog, as parsed frames), the receipt is
answered.  tests/broker/test_send_fastpath.py checks on random input, cut at random
points, that sessions with and without this path write the same bytes and make the
same events.

Per SEND it costs two searches (the empty line, the NUL), a few slices and joins, the
Message and the deliveries: a head equal to the previous SEND's (a client streaming
to one destination) is not judged again, and without a bridge a topic's deliveries
are made in the loop (Router.publish's topic branch, inlined).

Call order: `Session.receive_data` calls `take_sends(session, data, pos)` with the
offset where `feed_held` left the chunk; it returns where the rest begins.
"""

from __future__ import annotations

import logging
import re

from stompim.errors import INTERNAL_ERROR_MESSAGE, RemoteProtocolError
from stompim.frames import Command

from .core import SessionCore
from .destinations import Kind
from .errors import FrameRefused
from .message import message_ids, plain_message
from .states import Hold, State

__all__ = ["take_sends"]

log = logging.getLogger(__name__)

# A head's header lines (from the LF that ends the command line through the LF before
# the empty line): one ":" per line, no CR, no backslash, at least one line.
_PLAIN_HEAD = re.compile(rb"(?:\n[^:\n\r\\]*:[^:\n\r\\]*)+\n").fullmatch

# The header names the fast path must look at; with `_PLAIN_HEAD` true, every match is
# a whole header name (a line starts after each LF).
_SPECIAL = re.compile(
    rb"\n(destination|receipt|content-length|transaction|message-id|subscription|ack"
    rb"|redelivered):"
).findall
_DESTINATION_ONLY = [b"destination"]
_DESTINATION_LINE = b"\ndestination:"
_TAKEN = frozenset({b"destination", b"receipt", b"content-length"})

_SEND = Command.SEND
_TOPIC = Kind.TOPIC
_CONNECTED = State.CONNECTED


def take_sends(session: SessionCore, data: bytes, pos: int) -> int:
    """Perform the plain SENDs whole in `data` from `pos` (a frame boundary), in
    order; the offset of the first byte not taken (a frame boundary, or `len(data)`).
    Stops early when the session leaves CONNECTED or holds."""
    ctx = session.ctx
    prefix = ctx.id_prefix
    assert prefix is not None
    stats = ctx.stats
    rules = ctx.rules
    exchange = ctx.exchange
    # Without a bridge, a topic's deliveries are made here: Router.publish's topic
    # branch, inlined (this is the broker's hottest loop).
    topics = exchange.router.topics if exchange.forward is None else None
    # The previous SEND's head (header lines) and what it said: the same head says
    # the same (the limits are the session's, the routes of generic destinations
    # stay put while this runs).
    last_head = b""
    destination = ""
    wire = lines = b""
    receipt: str | None = None
    length = -1
    kind = _TOPIC
    principal = session.principal
    assert principal is not None
    limits = ctx.limits
    max_line = limits.max_header_length
    max_frame = limits.max_frame_size
    max_length = 2 * limits.max_headers + 1   # a head this short has few enough lines
    max_headers = limits.max_headers
    find = data.find
    startswith = data.startswith
    end = len(data)
    while pos < end:
        if data[pos] == 10:   # heart-beats between frames
            start = pos
            pos += 1
            while pos < end and data[pos] == 10:
                pos += 1
            session.parser.heartbeats += pos - start
            continue
        if not startswith(b"SEND\n", pos):
            break
        head_end = find(b"\n\n", pos + 4)
        if head_end < 0 or head_end - pos > max_line:
            break
        head = data[pos + 4:head_end + 1]
        if head != last_head:   # a client streaming to one destination repeats its head
            seen = _judge(head, max_length, max_headers)
            if seen is None:
                break
            try:
                route = rules.for_send(seen[0], principal)
            except Exception:   # the general path refuses it (ERROR and close)
                break
            if route.handler is not None or route.destination != seen[0]:
                break
            destination, wire, lines, receipt, length = seen
            kind = route.kind
            last_head = head
        if length < 0:
            body_end = find(b"\x00", head_end + 2)
            if body_end < 0:
                break
        else:
            body_end = head_end + 2 + length
            if body_end >= end or data[body_end]:
                break
        if body_end - pos > max_frame:
            break
        # Taken: from here on, what the general path does with this frame.
        pos = body_end + 1
        stats.frames_in[_SEND] += 1
        stats.messages_in += 1
        stats.published += 1
        message_id = prefix + b"%d" % next(message_ids)
        if length < 0 and body_end != head_end + 2:   # a body and no content-length
            tail = b"".join((message_id, wire, b"content-length:%d\n" % (body_end - head_end - 2),
                             data[head_end + 1:pos]))
        else:
            tail = message_id + wire + data[head_end + 1:pos]
        message = plain_message(destination, lines, data[head_end + 2:body_end], message_id,
                                tail)
        try:
            if topics is not None and kind is _TOPIC:
                congested = False
                subs = topics.get(destination)
                if subs:
                    for sub in tuple(subs):
                        if sub.consumer.deliver(sub, message, False):
                            congested = True
            else:
                congested = exchange.publish_message(kind, message)
        except FrameRefused as exc:
            session.fail(exc.message, receipt, exc.body, exc.headers)
            return pos
        except RemoteProtocolError as exc:
            session.fail(exc.message, receipt)
            return pos
        except Exception:
            log.exception("session %s: %s handler failed", session.id, _SEND.value)
            session.fail(INTERNAL_ERROR_MESSAGE, receipt)
            return pos
        if congested:
            session.set_hold(Hold.THROTTLE)
        if session.state is not _CONNECTED:
            return pos
        if receipt is not None:
            session.answer(receipt)
        if session.hold is not None:
            return pos
    return pos


def _judge(head: bytes, max_length: int,
           max_headers: int) -> tuple[str, bytes, bytes, str | None, int] | None:
    """What the fast path needs of a SEND's header lines (`head`: from the LF ending
    the command line through the LF before the empty line): its destination, the
    header lines of its MESSAGE (the ``destination`` line first, ``receipt`` cut out),
    the others alone, its receipt and its content-length (-1: none); None when the
    general path must judge it."""
    if not _PLAIN_HEAD(head):
        return None
    if len(head) > max_length and head.count(b"\n") - 1 > max_headers:
        return None
    if not head.isascii():
        try:
            head.decode()
        except UnicodeDecodeError:
            return None
    names = _SPECIAL(head)
    if names == _DESTINATION_ONLY and head.startswith(_DESTINATION_LINE):
        stop = head.find(b"\n", 13)
        return head[13:stop].decode(), head, head[stop:], None, -1
    return _cut(head, names)


def _cut(head: bytes, names: list[bytes]) -> tuple[str, bytes, bytes, str | None, int] | None:
    """A head whose special headers are not one leading ``destination`` line: its
    destination, the header lines of its MESSAGE (the ``destination`` line first, the
    others in order, ``receipt`` cut out), those others alone, its receipt, and its
    content-length (-1: none); None when the general path must judge it."""
    if (names.count(b"destination") != 1 or names.count(b"receipt") > 1
            or names.count(b"content-length") > 1 or not _TAKEN.issuperset(names)):
        return None
    start = head.find(_DESTINATION_LINE)
    stop = head.find(b"\n", start + 13)
    destination = head[start + 13:stop].decode()
    cuts = [(start, stop)]
    receipt = None
    if b"receipt" in names:
        at = head.find(b"\nreceipt:")
        until = head.find(b"\n", at + 9)
        receipt = head[at + 9:until].decode()
        cuts.append((at, until))
        cuts.sort()
    parts = []
    last = 0
    for at, until in cuts:
        parts.append(head[last:at])
        last = until
    parts.append(head[last:])
    lines = b"".join(parts)
    length = -1
    if b"content-length" in names:
        at = lines.find(b"\ncontent-length:") + 16
        digits = lines[at:lines.find(b"\n", at)]
        # canonical only: Message's own tail would refuse "007" (encode() judges it)
        if not digits.isdigit() or len(digits) > 15 or (digits[0] == 48 and len(digits) > 1):
            return None
        length = int(digits)
    return destination, head[start:stop] + lines, lines, receipt, length
