"""Destination rules: what a name means, who may subscribe or send to it.

Kinds (DESIGN.md "Destinations"):

* ``/queue/chat/<uid>``, ``/queue/notification/<uid>``, ``/queue/errors/<uid>``:
  per-user destinations.  Only user <uid> may SUBSCRIBE; they fan out like a topic
  over all that user's sessions (every device gets every message).  Nobody may
  SEND to notification or errors queues (server only).
* ``/user/queue/<name>`` (Spring user destination) is private to the session's own
  user, whatever the name: ``chat``, ``notification`` and ``errors`` resolve to
  ``/queue/<name>/<uid>`` above; any other name to ``/user/<uid>/queue/<name>``, a
  name no client can use directly (``/user/...`` is only ever resolved), so no other
  user can read or write it.  Like Spring's, it fans out to all the user's sessions.
* other ``/topic/**``: generic pub/sub; other ``/queue/**``: generic queue (one
  consumer per message).  Both refused when `open_generic_destinations` is off.
* anything a registered `DestinationHandler` handles (``/topic/chat/*``,
  ``/app/chat/*``...) goes through that handler; it is checked first.
* any other prefix: refused ("unknown destination").

A generic queue SEND is routed to `queue_handler` when one is set (the node's queues are
shared with other nodes, stompim.broker.router.SharedQueues): it is stored there before its RECEIPT.

Prefixes, as Spring configures them (`setApplicationDestinationPrefixes`,
`setUserDestinationPrefix`; config `stomp.application_destination_prefixes` and
`stomp.user_destination_prefix`): a destination under a configured application prefix
is read as under ``/app`` and one under the configured user prefix as under ``/user``,
before any rule above (so ``/api/chat/private`` is ``/app/chat/private`` when ``/api``
is configured).  The canonical ``/app`` and ``/user`` stay accepted too.  With the
defaults nothing is rewritten and this costs nothing.

Call order: the session calls `for_subscribe` / `for_send` with the raw header;
the returned `Route` names the resolved destination, its delivery kind and the
handler (if any).  A refusal raises `DestinationRefused` (ERROR + close).
`for_send` depends on the destination alone (except ``/user/...``), so its accepted
routes are cached (bounded; cleared when a handler is added).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from .auth import Principal
from .errors import DestinationRefused

__all__ = [
    "USER_PREFIX",
    "DestinationHandler",
    "DestinationRefused",
    "DestinationRules",
    "Kind",
    "Route",
    "errors_destination",
    "private_destination",
]

USER_PREFIX = "/user/queue/"
PER_USER_QUEUES = frozenset({"chat", "notification", "errors"})
SEND_ROUTE_CACHE_SIZE = 4096
SERVER_ONLY_QUEUES = frozenset({"notification", "errors"})


class DestinationHandler(Protocol):
    """A plug-in owning some destinations (the STOMP binding of the IM chat).

    Everything the broker calls on a handler, in the order it calls it:

    * `handles` to route a SUBSCRIBE or SEND (the first handler that says yes owns it);
    * `authorize_subscribe` before registering a SUBSCRIBE; a Refusal is sent as
      ERROR "forbidden: ..." and the session closes;
    * `ordered` when registering a SUBSCRIBE it authorized: whether the destination is
      an ordered stream, i.e. its messages carry a ``seq`` header that is 1, 2, 3...
      without holes and committed in that order (a message with seq n is stored, and
      so can be replayed, before any with a higher seq).  The broker then delivers
      each subscription in seq order and exactly once: it starts after `head` (no
      ``x-since-seq``) or after the client's ``x-since-seq`` (`replay` first), drops
      a message at or below the last seq it delivered, and when one comes with a
      higher seq than the next (a publish from another node that came late, or was
      lost), holds it and asks `replay` for the hole.  Messages without ``seq``
      (events) pass as they come;
    * `head` for an ordered SUBSCRIBE: the last seq stored so far (asked after the
      subscription is registered, so nothing falls between): where a SUBSCRIBE without
      ``x-since-seq`` starts, and the most an ``x-since-seq`` counts for (a cursor past
      it, from another database or a confused client, would swallow what comes next);
    * `replay` for a SUBSCRIBE carrying ``x-since-seq`` (and for a hole of an ordered
      stream): the stored messages after `since`, in order, as (MESSAGE headers, body);
      live messages published meanwhile wait, and are de-duplicated by ``seq``
      (ordered) or by their ``message-id`` against the replayed ones;
    * `begin_send` for a SEND, called in frame order (so the handler may order what it
      stores by the calls).  It raises Refusal at once for what needs no database; else
      it returns a Future of the RECEIPT headers (``message-id``, ``seq``,
      ``conversation-id``, ...) that resolves once the message is stored, or fails
      with Refusal (business) or Unavailable (infrastructure).  The broker cancels the
      Future when the session closes first: the handler then withdraws the send if it
      has not yet entered a committing batch (the Future ends cancelled); once
      committing it still resolves.  The handler publishes stored messages itself,
      through the broker's Publisher.
    * optionally `fill(principal, destination, since)`, like `replay`, for a hole of an
      ordered stream: one query shared by every session with the same hole, so its rows
      must not depend on who asks (past the subscribe check); without it `replay` fills
      holes. A handler whose replay is per user (what that user deleted for themselves)
      has it;
    * optionally `acknowledged(principal, destination, headers)` (a plain method, which
      must not block) after a client ACKed MESSAGEs of a destination it owns (client
      ack modes), with the MESSAGEs' headers: e.g. "delivered to a device".
    """

    def handles(self, destination: str) -> bool: ...

    async def authorize_subscribe(self, principal: Principal, destination: str) -> None: ...

    def ordered(self, destination: str) -> bool: ...

    async def head(self, principal: Principal, destination: str) -> int: ...

    async def replay(
        self, principal: Principal, destination: str, since: int
    ) -> list[tuple[dict[str, str], bytes]]: ...

    def begin_send(
        self, principal: Principal, destination: str, headers: Mapping[str, str], body: bytes
    ) -> asyncio.Future[Mapping[str, str]]: ...


class Kind(enum.Enum):
    TOPIC = "topic"
    """Every subscriber gets every message."""
    QUEUE = "queue"
    """Held until consumed; one consumer per message, round robin, acks honoured."""


@dataclass(frozen=True, slots=True)
class Route:
    destination: str
    kind: Kind
    handler: DestinationHandler | None = None


def errors_destination(user_id: int) -> str:
    """Where business refusals for `user_id` go (``/user/queue/errors`` resolved)."""
    return f"/queue/errors/{user_id}"


def private_destination(user_id: int, name: str) -> str:
    """``/user/queue/<name>`` resolved for `user_id` (a name outside PER_USER_QUEUES)."""
    return f"/user/{user_id}/queue/{name}"


def _per_user(destination: str) -> tuple[str, str] | None:
    """(queue name, user id text) for ``/queue/<name>/<uid>`` per-user names."""
    if not destination.startswith("/queue/"):
        return None
    parts = destination[7:].split("/")
    if len(parts) == 2 and parts[0] in PER_USER_QUEUES and parts[1]:
        return parts[0], parts[1]
    return None


class DestinationRules:
    """Stateless apart from the handler list and the generic-destinations switch."""

    def __init__(
        self, open_generic: bool, *, app_prefixes: tuple[str, ...] = ("/app",),
        user_prefix: str = "/user",
    ) -> None:
        self.open_generic = open_generic
        self.handlers: list[DestinationHandler] = []
        self.queue_handler: DestinationHandler | None = None
        self._send_routes: dict[str, Route] = {}
        rewrites = [(p.rstrip("/") + "/", "/app/") for p in app_prefixes if p.rstrip("/") != "/app"]
        if user_prefix.rstrip("/") != "/user":
            rewrites.append((user_prefix.rstrip("/") + "/", "/user/"))
        self._rewrites = tuple(rewrites)

    def canonical(self, destination: str) -> str:
        """`destination` with a configured application or user prefix replaced by
        ``/app`` or ``/user`` (see the module docstring)."""
        for prefix, target in self._rewrites:
            if destination.startswith(prefix):
                return target + destination[len(prefix):]
        return destination

    def add_handler(self, handler: DestinationHandler) -> None:
        self.handlers.append(handler)
        self._send_routes.clear()

    def handler_of(self, destination: str) -> DestinationHandler | None:
        """The handler owning a (resolved) destination, if any."""
        return self._handler(destination)

    def _handler(self, destination: str) -> DestinationHandler | None:
        for handler in self.handlers:
            if handler.handles(destination):
                return handler
        return None

    def kind_of(self, destination: str) -> Kind:
        """Delivery kind for a server-side publish."""
        if (
            destination.startswith("/queue/")
            and _per_user(destination) is None
            and self._handler(destination) is None
        ):
            return Kind.QUEUE
        return Kind.TOPIC

    @staticmethod
    def _resolve_user(destination: str, principal: Principal) -> str | Route:
        """``/user/queue/<name>`` for `principal`: a per-user name to route on, or the
        Route of a private destination."""
        name = destination[len(USER_PREFIX):]
        if not name or "/" in name:
            raise DestinationRefused(f"unknown destination {destination}")
        if name in PER_USER_QUEUES:
            return f"/queue/{name}/{principal.user_id}"
        return Route(private_destination(principal.user_id, name), Kind.TOPIC)

    def for_subscribe(self, destination: str, principal: Principal) -> Route:
        if self._rewrites:
            destination = self.canonical(destination)
        if destination.startswith(USER_PREFIX):
            resolved = self._resolve_user(destination, principal)
            if isinstance(resolved, Route):
                return resolved
            destination = resolved
        per_user = _per_user(destination)
        if per_user is not None:
            if per_user[1] != str(principal.user_id):
                raise DestinationRefused(f"forbidden: {destination} belongs to another user")
            return Route(destination, Kind.TOPIC, self._handler(destination))
        handler = self._handler(destination)
        if handler is not None:
            return Route(destination, Kind.TOPIC, handler)
        return self._generic(destination)

    def for_send(self, destination: str, principal: Principal) -> Route:
        route = self._send_routes.get(destination)
        if route is None:
            raw = destination
            if self._rewrites:
                destination = self.canonical(destination)
            if destination.startswith(USER_PREFIX):
                resolved = self._resolve_user(destination, principal)
                return resolved if isinstance(resolved, Route) else self._route_send(resolved)
            route = self._route_send(destination)
            if len(self._send_routes) >= SEND_ROUTE_CACHE_SIZE:
                self._send_routes.clear()
            self._send_routes[raw] = route
        return route

    def _route_send(self, destination: str) -> Route:
        per_user = _per_user(destination)
        if per_user is not None:
            if per_user[0] in SERVER_ONLY_QUEUES:
                raise DestinationRefused(f"forbidden: nobody may SEND to {destination}")
            handler = self._handler(destination)
            if handler is None and not self.open_generic:
                raise DestinationRefused(f"forbidden: {destination}")
            return Route(destination, Kind.TOPIC, handler)
        handler = self._handler(destination)
        if handler is not None:
            return Route(destination, Kind.TOPIC, handler)
        route = self._generic(destination)
        if route.kind is Kind.QUEUE and self.queue_handler is not None:
            return Route(destination, Kind.QUEUE, self.queue_handler)
        return route

    def set_queue_handler(self, handler: DestinationHandler | None) -> None:
        """Generic queue SENDs go to `handler` from now on (None: the local router)."""
        self.queue_handler = handler
        self._send_routes.clear()

    def _generic(self, destination: str) -> Route:
        if destination.startswith("/topic/") and len(destination) > 7:
            kind = Kind.TOPIC
        elif destination.startswith("/queue/") and len(destination) > 7:
            kind = Kind.QUEUE
        else:
            raise DestinationRefused(f"unknown destination {destination}")
        if not self.open_generic:
            raise DestinationRefused(f"forbidden: generic destination {destination} is closed")
        return Route(destination, kind)
