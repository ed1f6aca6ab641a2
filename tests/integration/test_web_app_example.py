"""The guide's aiohttp web-app example runs as written against the simulated gateway."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from anyint_async import PollPolicy, TaskRoute
from anyint_async.polling import DEFAULT_POLICIES
from anyint_async.testing import FakeGateway

PAGE = Path(__file__).parents[2] / "docs" / "guide" / "web-apps.md"


def _block_after(heading: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


async def test_web_app_example(gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # The example keeps the real defaults (videos first polled after 10 s); shrink them here.
    for route in TaskRoute:
        monkeypatch.setitem(DEFAULT_POLICIES, route, PollPolicy(first_poll=0.05, interval=0.05))
    monkeypatch.setenv("ANYINT_API_KEY", "readme-key")
    monkeypatch.setenv("ANYINT_BASE_URL", gateway.url)
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(_block_after("## aiohttp"), "web-apps.md", "exec"), namespace)  # noqa: S102
    async with TestClient(TestServer(namespace["app"])) as client:  # type: ignore[arg-type]
        response = await client.post("/video", json={"prompt": "a boat"})
        assert response.status == 200
        assert (await response.json())["video"].startswith(gateway.files_url)
        failed = await client.post("/video", json={"prompt": "#fail please"})
        assert failed.status == 422 and "FAILED" in (await failed.json())["error"]
        stream = await client.post("/images", json={"prompts": ["fox", "owl"]})
        body = await stream.text()
    assert body.count(" created") == 2 and body.count(" finished") == 2
    assert body.count("http://") == 2
