"""The Redis-backed rate limits while their Redis server is down (a redis-server of the test's own,
stopped and started again): limits keep holding, in the process, and nobody is refused service."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import redis

from deploy.topology import OwnRedis
from helpdesk.connectors.limits import Limits


def test_the_limits_hold_in_process_while_redis_is_down_and_use_redis_again_after(tmp_path: Path) -> None:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed (Debian package redis-server)")
    server = OwnRedis(tmp_path)
    server.start()
    limits = Limits(server.url, prefix="down-test")
    try:
        limiter = limits.limiter("visitor", 2, 1)
        assert [limiter.allow("v") == 0 for _ in range(3)] == [True, True, False]  # in Redis
        server.stop()
        began = time.monotonic()
        assert [limiter.allow("w") == 0 for _ in range(3)] == [True, True, False]  # in process
        assert time.monotonic() - began < 5, "no long retries while Redis is down"
        server.start()  # a fresh server (no persistence): the buckets are in Redis again
        assert [limiter.allow("x") == 0 for _ in range(3)] == [True, True, False]
        client = redis.Redis.from_url(server.url)
        try:
            assert client.exists("down-test:limit:visitor:x") == 1
        finally:
            client.close()
    finally:
        limits.close()
        server.stop()
