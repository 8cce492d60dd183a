"""The STOMP binding of the IM domain: the twin of stompim.http (the REST binding).

Both bindings parse their wire format, call the same `im` services and render the
domain's values in their own envelope. This package holds everything that makes the IM
domain speak STOMP, and nothing of the general broker (stompim.broker knows no IM):

    destinations  the chat and notification destination names, MESSAGE / RECEIPT /
                  event headers, ids and `x-since-seq` parsed as ASCII digits in range
    chat          the broker's DestinationHandler for /queue/chat, /topic/chat, /app/chat
    typing        the DestinationHandler for /app/chat/typing (typing signals, not stored)
    publisher     the domain's Publisher over the broker (what goes where, cluster-wide)
    auth          CONNECT credentials and the broker's Authenticator

Imports run one way: frames <- broker <- stomp <- app, and store <- im <- stomp.
"""

from __future__ import annotations

from stompim.stomp.auth import AccountAuthenticator
from stompim.stomp.chat import ChatDestinationHandler
from stompim.stomp.publisher import StompPublisher
from stompim.stomp.typing import TypingDestinationHandler

__all__ = [
    "AccountAuthenticator",
    "ChatDestinationHandler",
    "StompPublisher",
    "TypingDestinationHandler",
]
