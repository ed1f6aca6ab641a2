"""Let aioresponses build responses on aiohttp >= 3.14.

aiohttp 3.14 added a required ``stream_writer`` argument to ``ClientResponse``; aioresponses
(0.7.x, issue pnuckowski/aioresponses#289) does not pass it yet. aiohttp 3.14 is a security
release, so the SDK does not pin below it; the test mock gets a response class that supplies a
writer whose upload is already finished, which is what a mocked response is.
"""

from __future__ import annotations

import inspect
from typing import Any

import aioresponses.core
from aiohttp import ClientResponse


class _FinishedUpload:
    output_size = 0


class _CompatClientResponse(ClientResponse):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _FinishedUpload())
        super().__init__(*args, **kwargs)


def install() -> None:
    if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
        aioresponses.core.ClientResponse = _CompatClientResponse  # type: ignore[misc]
