"""The Redis core layer gives each process's hub channel room for a burst of events."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import asyncio, django
django.setup()
from channels.layers import get_channel_layer
from messaging.realtime.hub import HUB_CHANNEL_PREFIX
layer = get_channel_layer()
hub = asyncio.run(layer.new_channel(prefix=HUB_CHANNEL_PREFIX))
socket = asyncio.run(layer.new_channel())
print(type(layer).__name__, layer.get_capacity(hub), layer.get_capacity(socket))
"""


def probe(**env) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # Nothing connects: building the layer and naming channels need no Redis.
            "REDIS_URL": "redis://127.0.0.1:9/0",
            "CHANNEL_LAYER_KIND": "core",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_hub_channel_holds_a_burst_far_beyond_a_sockets_capacity():
    assert probe() == ["RedisChannelLayer", "100000", "1500"]


def test_the_hub_capacity_is_configurable():
    assert probe(CHANNEL_LAYER_HUB_CAPACITY="5000", CHANNEL_LAYER_CAPACITY="10") == [
        "RedisChannelLayer",
        "5000",
        "10",
    ]
