"""The presence stores, in memory and on Redis, behave alike: a user's presence is the union of
every live process's entry, each change is announced once, invisibility hides it all, and a
process that stops renewing is reaped (its users announced) once the TTL has passed, by one of
the processes that survive. Processes are names here and the clock is passed in; the Redis
store runs in the PostgreSQL + Redis pass against its real server."""

import os
import uuid

import pytest

from awareness.store import MemoryPresenceStore, RedisPresenceStore, Shown

TTL = 30.0


@pytest.fixture(params=["memory", "redis"])
async def store(request):
    if request.param == "memory":
        yield MemoryPresenceStore()
        return
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("the Redis store runs in the PostgreSQL + Redis pass of `make test`")
    redis_store = RedisPresenceStore(url, prefix=f"test:{uuid.uuid4().hex}:")
    yield redis_store
    await redis_store.close()


async def test_a_user_is_active_if_any_process_has_them_active(store):
    assert await store.put("a", 7, "away", None, False, 100.0, TTL) == Shown(7, "away", None)
    assert await store.put("b", 7, "active", 101.0, False, 101.0, TTL) == Shown(7, "active", 101.0)
    # Nothing others would see changed: nothing to announce.
    assert await store.put("a", 7, "away", None, False, 102.0, TTL) is None
    assert await store.put("b", 7, None, None, False, 103.0, TTL) == Shown(7, "away", 101.0)
    assert await store.put("a", 7, None, None, False, 104.0, TTL) == Shown(7, "offline", 101.0)
    assert await store.read([7, 8], 105.0, TTL) == {7: Shown(7, "offline", 101.0)}


async def test_an_invisible_user_is_offline_without_a_last_active_time(store):
    await store.put("a", 7, "active", 100.0, False, 100.0, TTL)
    assert await store.put("a", 7, "active", None, True, 101.0, TTL) == Shown(7, "offline", None)
    assert await store.read([7], 102.0, TTL) == {7: Shown(7, "offline", None)}
    assert await store.put("a", 7, "active", 103.0, False, 103.0, TTL) == Shown(7, "active", 103.0)


async def test_a_dead_process_is_reaped_after_the_ttl_by_one_survivor(store):
    await store.put("dies", 7, "active", 100.0, False, 100.0, TTL)
    await store.put("dies", 8, "away", None, False, 100.0, TTL)
    await store.put("lives", 8, "active", 100.0, False, 100.0, TTL)
    # Within the TTL the dead process still counts.
    assert await store.beat("lives", 100.0 + TTL - 1, TTL) == []
    assert (await store.read([7], 100.0 + TTL - 1, TTL))[7].state == "active"
    # After it, reads no longer count it at once, and the first survivor to renew announces.
    assert (await store.read([7], 100.0 + TTL + 1, TTL))[7].state == "offline"
    reaped = await store.beat("lives", 100.0 + TTL + 1, TTL)
    assert reaped == [Shown(7, "offline", 100.0)]  # user 8 is still active on "lives"
    assert await store.beat("other", 100.0 + TTL + 2, TTL) == []  # reaped once
    assert (await store.read([8], 100.0 + TTL + 2, TTL))[8].state == "active"


async def test_a_process_that_keeps_renewing_is_never_reaped(store):
    await store.put("a", 7, "away", None, False, 0.0, TTL)
    for t in range(10, 200, 10):
        assert await store.beat("a", float(t), TTL) == []
        assert await store.beat("b", float(t), TTL) == []
    assert (await store.read([7], 200.0, TTL))[7].state == "away"
