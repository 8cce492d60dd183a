"""KeyValue behaviour, identical on the in-process store and on Redis (same cases, `kv`
fixture parametrized over both)."""

from __future__ import annotations

import asyncio

import pytest

from stompim.store import KeyValue, KvOp, KvTypeError, MemoryKeyValue, open_kv


async def _eventually(check, timeout: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_get_set_delete_exists(kv: KeyValue) -> None:
    assert await kv.get("k") is None
    assert await kv.exists("k") is False
    assert await kv.set("k", "v1") is True
    assert await kv.get("k") == "v1"
    assert await kv.exists("k") is True
    assert await kv.set("k", "v2") is True
    assert await kv.get("k") == "v2"
    assert await kv.set("other", "x")
    assert await kv.delete("k", "other", "missing") == 2
    assert await kv.delete() == 0
    assert await kv.get("k") is None


async def test_unicode_values(kv: KeyValue) -> None:
    await kv.set("u", "héllo 😀 中文")
    assert await kv.get("u") == "héllo 😀 中文"


async def test_only_if_absent(kv: KeyValue) -> None:
    assert await kv.set("lock", "a", only_if_absent=True) is True
    assert await kv.set("lock", "b", only_if_absent=True) is False
    assert await kv.get("lock") == "a"
    assert await kv.set("short", "a", ttl=0.2, only_if_absent=True) is True
    await asyncio.sleep(0.35)
    assert await kv.set("short", "b", only_if_absent=True) is True  # expired: absent again
    assert await kv.get("short") == "b"


async def test_ttl_expiry(kv: KeyValue) -> None:
    await kv.set("t", "v", ttl=0.2)
    remaining = await kv.ttl("t")
    assert remaining is not None and 0 < remaining <= 0.2
    assert await kv.get("t") == "v"
    await asyncio.sleep(0.35)
    assert await kv.get("t") is None
    assert await kv.exists("t") is False
    assert await kv.ttl("t") is None


async def test_ttl_none_for_missing_or_persistent_and_set_clears_ttl(kv: KeyValue) -> None:
    assert await kv.ttl("missing") is None
    await kv.set("p", "v", ttl=10)
    assert (await kv.ttl("p") or 0) > 9
    await kv.set("p", "w")  # plain set removes the expiry
    assert await kv.ttl("p") is None
    with pytest.raises(ValueError):
        await kv.set("p", "w", ttl=0)


async def test_expire(kv: KeyValue) -> None:
    await kv.set("e", "v")
    await kv.expire("e", 0.2)
    assert (await kv.ttl("e") or 0) > 0
    await kv.expire("absent", 5)  # no error, nothing created
    assert await kv.exists("absent") is False
    await asyncio.sleep(0.35)
    assert await kv.get("e") is None


async def test_incr_ttl_applies_on_create_only(kv: KeyValue) -> None:
    assert await kv.incr("n") == 1
    assert await kv.incr("n", 5) == 6
    assert await kv.ttl("n") is None
    assert await kv.get("n") == "6"
    assert await kv.incr("w", ttl=0.3) == 1
    first = await kv.ttl("w")
    await asyncio.sleep(0.1)
    assert await kv.incr("w", ttl=100) == 2  # window end kept
    later = await kv.ttl("w")
    assert first is not None and later is not None and later < first
    await asyncio.sleep(0.3)
    assert await kv.get("w") is None
    assert await kv.incr("w", ttl=0.3) == 1  # a new window
    await kv.set("s", "abc")
    with pytest.raises(ValueError):
        await kv.incr("s")


async def test_hash_ops(kv: KeyValue) -> None:
    assert await kv.hgetall("h") == {}
    assert await kv.hget("h", "a") is None
    await kv.hset("h", "a", "1")
    await kv.hset("h", "b", "2")
    await kv.hset("h", "a", "3")
    assert await kv.hget("h", "a") == "3"
    assert await kv.hgetall("h") == {"a": "3", "b": "2"}
    assert await kv.hdel("h", "a", "zz") == 1
    assert await kv.hgetall("h") == {"b": "2"}
    assert await kv.hdel("h", "b") == 1
    assert await kv.exists("h") is False  # an emptied hash is gone
    await kv.hset("h2", "f", "v")
    await kv.expire("h2", 0.2)
    await asyncio.sleep(0.35)
    assert await kv.hgetall("h2") == {}
    await kv.set("str", "x")
    with pytest.raises(KvTypeError):
        await kv.hset("str", "f", "v")
    await kv.hset("hh", "f", "v")
    with pytest.raises(KvTypeError):
        await kv.get("hh")


async def test_pubsub_round_trip(kv: KeyValue) -> None:
    got: list[bytes] = []
    got_async: list[bytes] = []

    async def on_async(data: bytes) -> None:
        await asyncio.sleep(0)
        got_async.append(data)

    sub = await kv.subscribe("chan", got.append)
    sub2 = await kv.subscribe("chan", on_async)
    other: list[bytes] = []
    await kv.subscribe("other", other.append)
    payloads = [b"one", b"\x00binary\xff", "ü".encode(), b""] + [str(i).encode() for i in range(20)]
    for p in payloads:
        await kv.publish("chan", p)
    await _eventually(lambda: len(got) == len(payloads) and len(got_async) == len(payloads))
    assert got == payloads  # in order, bytes intact
    assert got_async == payloads
    assert other == []
    await sub.close()
    await sub.close()  # idempotent
    await kv.publish("chan", b"after")
    await _eventually(lambda: got_async[-1:] == [b"after"])
    assert got[-1] == payloads[-1]  # closed subscription got nothing more
    await sub2.close()


async def test_callback_errors_do_not_stop_delivery(kv: KeyValue) -> None:
    got: list[bytes] = []

    def bad(data: bytes) -> None:
        raise RuntimeError("boom")

    await kv.subscribe("c", bad)
    await kv.subscribe("c", got.append)
    await kv.publish("c", b"1")
    await kv.publish("c", b"2")
    await _eventually(lambda: got == [b"1", b"2"])


async def test_callback_may_subscribe(kv: KeyValue) -> None:
    inner: list[bytes] = []
    done = asyncio.Event()

    async def on_outer(data: bytes) -> None:
        await kv.subscribe("inner", inner.append)
        done.set()

    await kv.subscribe("outer", on_outer)
    await kv.publish("outer", b"go")
    await asyncio.wait_for(done.wait(), 3)
    await kv.publish("inner", b"x")
    await _eventually(lambda: inner == [b"x"])


async def test_prefix_isolation(
    kv: KeyValue, request: pytest.FixtureRequest, kv_prefix: str
) -> None:
    url = "" if isinstance(kv, MemoryKeyValue) else request.getfixturevalue("redis_url")
    if url:
        other = await open_kv(url, prefix=kv_prefix + "_other")
        same = await open_kv(url, prefix=kv_prefix)
    else:
        other = await open_kv("", prefix=kv_prefix + "_other")
        same = None
    try:
        await kv.set("k", "mine")
        assert await other.get("k") is None
        await other.set("k", "theirs")
        assert await kv.get("k") == "mine"
        got: list[bytes] = []
        await kv.subscribe("c", got.append)
        await other.publish("c", b"foreign")
        if same is not None:  # same prefix, another client: shared keys and channels
            assert await same.get("k") == "mine"
            await same.publish("c", b"shared")
            await _eventually(lambda: got == [b"shared"])
        await kv.publish("c", b"own")
        await _eventually(lambda: b"own" in got)
        assert b"foreign" not in got
    finally:
        await other.delete("k")
        await other.close()
        if same is not None:
            await same.close()


async def test_memory_close_drops_pending_and_refuses_use(kv_prefix: str) -> None:
    store = MemoryKeyValue(prefix=kv_prefix)
    got: list[bytes] = []
    await store.subscribe("c", got.append)
    await store.publish("c", b"queued")  # not yet delivered: delivery is asynchronous
    await store.close()
    await store.close()  # idempotent
    await asyncio.sleep(0.05)
    assert got == []
    with pytest.raises(RuntimeError):
        await store.get("k")


async def test_memory_sweeps_expired_keys(kv_prefix: str) -> None:
    store = MemoryKeyValue(prefix=kv_prefix)
    try:
        for i in range(300):
            await store.set(f"old{i}", "v", ttl=0.05)
        await asyncio.sleep(0.1)
        for i in range(300):  # only writes; the old keys are never read again
            await store.set(f"new{i}", "v")
        assert len(store._strings) < 400  # expired keys were swept, not just hidden
    finally:
        await store.close()


@pytest.mark.redis
async def test_redis_close_is_clean(redis_url: str, kv_prefix: str) -> None:
    # subscriptions live, messages in flight: close must not leave tasks or sockets behind
    store = await open_kv(redis_url, prefix=kv_prefix)
    got: list[bytes] = []
    await store.subscribe("c", got.append)
    await store.publish("c", b"x")
    await store.close()
    leftover = [t for t in asyncio.all_tasks() if t.get_name().startswith("stompim-kv")]
    assert leftover == []


async def test_batch_runs_every_op_in_order(kv: KeyValue) -> None:
    await kv.set("plain", "x")
    results = await kv.batch([
        KvOp.set("m", "a", ttl=30, only_if_absent=True),
        KvOp.set("m", "b", only_if_absent=True),  # exists now: not set
        KvOp.expire("m", 20),
        KvOp.hset("h", "n1", "5"),
        KvOp.hset("h", "n2", "6"),
        KvOp.expire("h", 0.2),
        KvOp.hdel("h", "n2", "zz"),
        KvOp.hset("plain", "f", "v"),  # a string: this op fails, the others go on
        KvOp.expire("absent", 5),
    ])
    assert results[:7] == [True, False, None, None, None, None, 1]
    assert isinstance(results[7], KvTypeError)
    assert results[8] is None
    assert await kv.get("m") == "a"
    remaining = await kv.ttl("m")
    assert remaining is not None and 10 < remaining <= 20
    assert await kv.hgetall("h") == {"n1": "5"}
    assert await kv.get("plain") == "x"
    assert await kv.exists("absent") is False
    await asyncio.sleep(0.35)
    assert await kv.exists("h") is False  # the batch's expiry applied
    assert await kv.batch([]) == []


def test_batch_op_rejects_bad_ttl() -> None:
    with pytest.raises(ValueError):
        KvOp.expire("k", 0)
