"""The presence stores, in memory and on Redis, behave alike: a user's presence is the union of
every live process's entry, each change is announced once, invisibility hides it all, and a
process that stops renewing is reaped (its users announced) once the TTL has passed, by one of
the processes that survive. Processes are names here and the clock is passed in; the Redis
store runs in the PostgreSQL + Redis pass against its real server."""

import os
import uuid

import pytest

from awareness.store import MemoryPresenceStore, RedisPresenceStore

TTL = 30.0


@pytest.fixture(params=["memory", "redis"])
async def store(request):
    if request.param == "memory":
        yield MemoryPresenceStore()
        return
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("the Redis store runs in the PostgreSQL + Redis pass of `make test`")
    redis_store = RedisPresenceStore(url, prefix=f"test:{uuid.uuid4().hex}:", server_clock=False)
    yield redis_store
    await redis_store.close()


async def live(store, *processes: str, now: float) -> None:
    """The processes renew (only a beat makes a process live; its writes do not)."""
    for process in processes:
        await store.beat(process, now, TTL)


def seen(shown) -> tuple:
    """What others see, without the version."""
    return None if shown is None else (shown.user_id, shown.state, shown.last_active)


async def test_a_user_is_active_if_any_process_has_them_active(store):
    await live(store, "a", "b", now=100.0)
    assert seen(await store.put("a", 7, "away", None, False, 100.0, TTL)) == (7, "away", None)
    assert seen(await store.put("b", 7, "active", 101.0, False, 101.0, TTL)) == (7, "active", 101.0)
    # Nothing others would see changed: nothing to announce.
    assert await store.put("a", 7, "away", None, False, 102.0, TTL) is None
    assert seen(await store.put("b", 7, None, None, None, 103.0, TTL)) == (7, "away", 101.0)
    assert seen(await store.put("a", 7, None, None, None, 104.0, TTL)) == (7, "offline", 101.0)
    assert {k: seen(v) for k, v in (await store.read([7, 8], 105.0, TTL)).items()} == {
        7: (7, "offline", 101.0)
    }


async def test_a_write_never_makes_its_process_live_again(store):
    await live(store, "a", "b", now=100.0)
    await store.put("a", 7, "active", 100.0, False, 100.0, TTL)
    await store.beat("b", 100.0 + TTL + 1, TTL)  # b reaps a
    await store.put("a", 8, "away", None, False, 100.0 + TTL + 2, TTL)  # a was only stalled
    assert (await store.read([7, 8], 100.0 + TTL + 2, TTL))[8].state == "offline"
    # a's beat says it was taken for dead: its tracker puts every user back.
    assert (await store.beat("a", 100.0 + TTL + 3, TTL))[0] is False


async def test_every_change_has_a_newer_version_than_the_last_and_reads_say_the_current_one(store):
    await live(store, "a", now=100.0)
    versions = []
    for t, state in enumerate(["away", "active", "away", None]):
        versions.append((await store.put("a", 7, state, None, False, 100.0 + t, TTL)).version)
    assert versions == sorted(set(versions)), versions
    assert (await store.read([7], 104.0, TTL))[7].version == versions[-1]
    # A store that lost everything (a Redis restart) still counts above what hubs remember:
    # versions are at least the change's time in milliseconds.
    assert versions[0] >= 100_000


async def test_a_process_without_sockets_of_an_invisible_user_leaves_them_invisible(store):
    await live(store, "a", "b", now=100.0)
    await store.put("a", 7, "away", None, True, 100.0, TTL)
    await store.put("b", 7, "away", None, True, 100.0, TTL)
    # b's last socket closes: b knows nothing of the user's choice and says nothing of it.
    assert await store.put("b", 7, None, None, None, 101.0, TTL) is None
    assert (await store.read([7], 102.0, TTL))[7].state == "offline"
    # The user turns visible (a's socket hears it): announced.
    assert seen(await store.put("a", 7, "away", None, False, 103.0, TTL)) == (7, "away", None)


async def test_an_invisible_user_is_offline_without_a_last_active_time(store):
    await live(store, "a", now=100.0)
    await store.put("a", 7, "active", 100.0, False, 100.0, TTL)
    assert seen(await store.put("a", 7, "active", None, True, 101.0, TTL)) == (7, "offline", None)
    assert seen((await store.read([7], 102.0, TTL))[7]) == (7, "offline", None)
    assert seen(await store.put("a", 7, "active", 103.0, False, 103.0, TTL)) == (7, "active", 103.0)


async def test_a_dead_process_is_reaped_after_the_ttl_by_one_survivor(store):
    await live(store, "dies", "lives", now=100.0)
    await store.put("dies", 7, "active", 100.0, False, 100.0, TTL)
    await store.put("dies", 8, "away", None, False, 100.0, TTL)
    await store.put("lives", 8, "active", 100.0, False, 100.0, TTL)
    # Within the TTL the dead process still counts.
    assert await store.beat("lives", 100.0 + TTL - 1, TTL) == (True, [])
    assert (await store.read([7], 100.0 + TTL - 1, TTL))[7].state == "active"
    # After it, reads no longer count it at once, and the first survivor to renew announces.
    assert (await store.read([7], 100.0 + TTL + 1, TTL))[7].state == "offline"
    renewed, reaped = await store.beat("lives", 100.0 + TTL + 1, TTL)
    assert renewed and [seen(s) for s in reaped] == [(7, "offline", 100.0)]  # 8 is active on "lives"
    assert (await store.beat("other", 100.0 + TTL + 2, TTL))[1] == []  # reaped once
    assert (await store.read([8], 100.0 + TTL + 2, TTL))[8].state == "active"
    # The "dead" one comes back (it was only stalled): its beat says it was taken for dead.
    assert (await store.beat("dies", 100.0 + TTL + 3, TTL))[0] is False


async def test_a_process_that_keeps_renewing_is_never_reaped(store):
    await live(store, "a", now=0.0)
    await store.put("a", 7, "away", None, False, 0.0, TTL)
    for t in range(10, 200, 10):
        assert await store.beat("a", float(t), TTL) == (True, [])
        assert (await store.beat("b", float(t), TTL))[1] == []
    assert (await store.read([7], 200.0, TTL))[7].state == "away"


async def test_on_redis_liveness_is_judged_by_redis_s_clock_not_the_callers():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("the Redis store runs in the PostgreSQL + Redis pass of `make test`")
    store = RedisPresenceStore(url, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        await store.put("a", 7, "active", None, False, 0.0, TTL)
        await store.beat("a", 0.0, TTL)  # a clock stuck in 1970 …
        # … and one running a day ahead: neither reaps the other.
        assert await store.beat("b", 86_400.0 * 20_000, TTL) == (False, [])
        assert (await store.read([7], 0.0, TTL))[7].state == "active"
    finally:
        await store.close()
