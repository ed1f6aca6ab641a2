"""A simulated AnyInt gateway: a real aiohttp server on loopback, for tests, demos and benchmarks.

Test your own app offline against it::

    from anyint_async.testing import FakeGateway, RateLimited

    async with FakeGateway(time_scale=0.001, fail_rate=0.1) as gw:
        gw.add_fault(RateLimited(routes=["query"], retry_after=0.2, times=3))
        async with AnyIntSession("test-key", base_url=gw.url) as session:
            ...
        assert gw.stats.file_auth_headers == 0

Or as a process: ``python -m anyint_async.testing --port 0`` prints its URL and serves until
SIGTERM or SIGINT.

This package imports no client code, so it can catch the client's mistakes.
"""

from ._callbacks import CallbackFaults
from ._faults import (
    DropConnection,
    Fault,
    Hang,
    KlingCode,
    MalformedBody,
    RateLimited,
    ServerError,
    Slow,
    TruncatedBody,
    fault_from_json,
)
from ._gateway import FakeGateway
from ._redis import LocalRedis, redis_server_binary
from ._stats import GatewayStats, RequestRecord
from ._timing import (
    Duration,
    Fixed,
    LogNormal,
    Mixture,
    ModelProfile,
    Pareto,
    Uniform,
    default_profiles,
    duration_from_json,
    profiles_from_json,
    request_factor,
)

__all__ = [
    "CallbackFaults",
    "DropConnection",
    "Duration",
    "FakeGateway",
    "Fault",
    "Fixed",
    "GatewayStats",
    "Hang",
    "KlingCode",
    "LocalRedis",
    "LogNormal",
    "MalformedBody",
    "Mixture",
    "ModelProfile",
    "Pareto",
    "RateLimited",
    "RequestRecord",
    "ServerError",
    "Slow",
    "TruncatedBody",
    "Uniform",
    "default_profiles",
    "duration_from_json",
    "fault_from_json",
    "profiles_from_json",
    "redis_server_binary",
    "request_factor",
]
