"""Fan-out cost of the two Redis channel layers, measured side by side on one Redis.

    python -m tests.servers .venv/bin/python bench/layers.py     (Redis layers too, via REDIS_URL)
    .venv/bin/python bench/layers.py                             (the in-memory layers only)

For each room size, N receivers join one group in this process (as N sockets of one server
process would), a sender group_sends M messages, and we time until every receiver has every
message, and count what was lost. Prints a markdown table.
"""

import asyncio
import contextlib
import os
import statistics
import sys
import time

from channels.layers import InMemoryChannelLayer as StockInMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

MESSAGES = 50
PAYLOAD = "x" * 300  # about one serialised message.new frame


async def measure(layer, receivers: int) -> dict:
    group = f"bench-{receivers}-{time.monotonic_ns()}"
    channels = [await layer.new_channel() for _ in range(receivers)]
    for channel in channels:
        await layer.group_add(group, channel)
    got = [0] * receivers
    done = asyncio.Event()
    remaining = receivers * MESSAGES
    latencies = []

    async def receive(index: int, channel: str) -> None:
        nonlocal remaining
        while True:
            message = await layer.receive(channel)
            got[index] += 1
            latencies.append(time.perf_counter() - message["sent"])
            remaining -= 1
            if remaining == 0:
                done.set()

    tasks = [asyncio.create_task(receive(i, c)) for i, c in enumerate(channels)]
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    for _ in range(MESSAGES):
        await layer.group_send(group, {"type": "chat.frame", "text": PAYLOAD, "sent": time.perf_counter()})
    with contextlib.suppress(TimeoutError):  # what did not arrive by then counts as lost
        await asyncio.wait_for(done.wait(), timeout=30)
    elapsed = time.perf_counter() - start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await layer.group_discard(group, channel)
    delivered = sum(got)
    latencies.sort()
    return {
        "receivers": receivers,
        "deliveries_per_s": delivered / elapsed,
        "lost": receivers * MESSAGES - delivered,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan"),
    }


def layers(url: str | None):
    """(name, layer) for every kind measured; the Redis ones only with a REDIS_URL."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from config.channel_layers import InMemoryChannelLayer

    kinds = [
        ("memory (channels' own)", StockInMemoryChannelLayer(capacity=1000)),
        ("memory (config.channel_layers)", InMemoryChannelLayer(capacity=1000)),
    ]
    if url:
        kinds += [
            ("redis core", RedisChannelLayer(hosts=[url], capacity=1500)),
            ("redis pubsub", RedisPubSubChannelLayer(hosts=[url])),
        ]
    return kinds


async def main() -> None:
    url = os.environ.get("REDIS_URL")
    if not url:
        print("No REDIS_URL: measuring the in-memory layers only.\n")
    print(f"{MESSAGES} messages of {len(PAYLOAD)} bytes to one group, receivers in one process\n")
    print("| layer | receivers | deliveries/s | p50 ms | p99 ms | lost |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for receivers in (10, 100, 1000):
        for name, layer in layers(url):
            r = await measure(layer, receivers)
            print(
                f"| {name} | {receivers} | {r['deliveries_per_s']:,.0f} | {r['p50_ms']:.1f} | "
                f"{r['p99_ms']:.1f} | {r['lost']} |"
            )
            await layer.flush()


if __name__ == "__main__":
    asyncio.run(main())
