"""SMS verification codes: 6 digits, kept in the key-value store for `code_ttl_seconds`.

Sending is pluggable through `SmsSender`; the default `OutboxSmsSender` appends the
code to a local file (development: read the code there instead of on a phone).
Codes never go to the log, which is shipped and kept where codes must not be.
`MemorySmsSender` keeps the codes it was asked to send, for tests and tools. A real
gateway implements the same one method.

Call order: `SmsCodes.request(phone, ip)` (rate limited per phone and per IP per
hour -> 429/9005), later `SmsCodes.verify(phone, code)` which consumes the code
when it matches. Five wrong guesses destroy the code, so guessing 6 digits is
impractical.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from stompim.im.ratelimit import FixedWindowLimiter

if TYPE_CHECKING:
    from stompim.config import SmsConfig
    from stompim.store import KeyValue

log = logging.getLogger(__name__)

MAX_WRONG_GUESSES = 5
HOUR = 3600


class SmsSender(Protocol):
    async def send_code(self, phone: str, code: str) -> None:
        """Deliver `code` to `phone`. Raising aborts the request (the code is dropped)."""


def masked(phone: str) -> str:
    """`phone` with all but its last four digits hidden, for log lines."""
    return "*" * max(0, len(phone) - 4) + phone[-4:]


class OutboxSmsSender:
    """Development sender: appends "<time> <phone> <code>" lines to a file readable by
    its owner only; the log names the phone (masked) and the file, never the code."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    async def send_code(self, phone: str, code: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {phone} {code}\n"
        await asyncio.to_thread(self._append, line)
        log.info("SMS code for %s written to %s (development sender)", masked(phone), self.path)

    def _append(self, line: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line)


class MemorySmsSender:
    """Keeps the last code sent to each phone (tests, local tools)."""

    def __init__(self) -> None:
        self.sent: dict[str, str] = {}

    async def send_code(self, phone: str, code: str) -> None:
        self.sent[phone] = code


def sender_from_config(config: SmsConfig) -> SmsSender:
    if config.sender == "outbox":
        return OutboxSmsSender(config.outbox_path)
    if config.sender == "memory":
        return MemorySmsSender()
    raise ValueError(f"unknown sms.sender {config.sender!r} (known: outbox, memory)")


class SmsCodes:
    def __init__(self, kv: KeyValue, sender: SmsSender, config: SmsConfig) -> None:
        self._kv = kv
        self._sender = sender
        self._ttl = config.code_ttl_seconds
        self._per_phone = FixedWindowLimiter(kv, "sms-phone", config.max_per_phone_per_hour, HOUR)
        self._per_ip = FixedWindowLimiter(kv, "sms-ip", config.max_per_ip_per_hour, HOUR)

    async def request(self, phone: str, ip: str | None) -> int:
        """Generate, store and send a fresh code; returns its lifetime in seconds."""
        # The address is counted first so that refused requests still spend its budget.
        if ip:
            await self._per_ip.hit_or_refuse(ip, "too many codes requested from this address")
        await self._per_phone.hit_or_refuse(phone, "too many codes requested for this phone")
        code = f"{secrets.randbelow(1_000_000):06d}"
        await self._kv.set(f"sms:code:{phone}", code, ttl=self._ttl)
        await self._kv.delete(f"sms:wrong:{phone}")
        await self._sender.send_code(phone, code)
        return self._ttl

    async def verify(self, phone: str, code: str) -> bool:
        """True (and the code is used up) when `code` is the live code for `phone`."""
        key = f"sms:code:{phone}"
        stored = await self._kv.get(key)
        if stored is None or not isinstance(code, str):
            return False
        if hmac.compare_digest(stored.encode(), code.encode()):
            # Only the caller whose delete removed the key wins a race.
            return await self._kv.delete(key) == 1
        wrong = await self._kv.incr(f"sms:wrong:{phone}", 1, ttl=self._ttl)
        if wrong >= MAX_WRONG_GUESSES:
            await self._kv.delete(key)
        return False
