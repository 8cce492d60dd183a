"""SingleFlight: concurrent calls for one key share one run, its result or its error;
a cancelled waiter leaves the run going; `forget` starts the next call afresh."""

from __future__ import annotations

import asyncio

import pytest

from stompim.errors import Unavailable
from stompim.im.singleflight import SingleFlight


async def test_concurrent_calls_share_one_run() -> None:
    flights: SingleFlight[int, str] = SingleFlight()
    gate = asyncio.Event()
    runs = 0

    async def read() -> str:
        nonlocal runs
        runs += 1
        await gate.wait()
        return "active"

    waiters = [asyncio.ensure_future(flights.run(7, read)) for _ in range(500)]
    await asyncio.sleep(0)
    assert flights.in_flight == 1
    gate.set()
    assert await asyncio.gather(*waiters) == ["active"] * 500
    assert runs == 1 and flights.in_flight == 0
    assert await flights.run(7, read) == "active" and runs == 2   # done: a new run


async def test_an_error_reaches_every_waiter_and_is_not_kept() -> None:
    flights: SingleFlight[int, bool] = SingleFlight()

    async def down() -> bool:
        await asyncio.sleep(0)
        raise Unavailable("database")

    results = await asyncio.gather(*(flights.run(1, down) for _ in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results)
    assert flights.in_flight == 0


async def test_a_cancelled_waiter_does_not_cancel_the_run_and_forget_starts_afresh() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()
    started: list[int] = []

    async def slow() -> int:
        started.append(1)
        await gate.wait()
        return len(started)

    first = asyncio.ensure_future(flights.run("u", slow))
    second = asyncio.ensure_future(flights.run("u", slow))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    flights.forget("u")
    third = asyncio.ensure_future(flights.run("u", slow))
    await asyncio.sleep(0)
    gate.set()
    assert await second == 2 and await third == 2 and len(started) == 2
