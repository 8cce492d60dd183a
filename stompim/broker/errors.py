"""Errors inside the broker.

    FrameRefused        a client frame the broker will not process: the session
                        sends ERROR (`message`, short body, `receipt-id` when the
                        frame had `receipt`, extra `headers`) and closes.

Remote protocol errors found by the codec (stompim.frames.RemoteProtocolError)
lead to the same ERROR + close; they are not wrapped.  Business refusals of a
DestinationHandler are stompim.errors.Refusal and do NOT close the session.
Anything else escaping a command handler is a bug: logged with its traceback, the
client gets ERROR "internal error", and only that session closes.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FrameRefused"]


class FrameRefused(Exception):
    def __init__(
        self, message: str, body: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.body = body
        self.headers = dict(headers or {})
