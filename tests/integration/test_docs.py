"""The guide's and the README's code blocks run as written, each in its own process against a
simulated gateway process; a block marked ``<!-- fragment -->`` is a piece of a larger program
and is not run on its own."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
_BLOCK = re.compile(r"(<!-- fragment -->\n)?```python\n(.*?)```", re.S)
# The blocks keep the real default policies (videos first asked after 10 s): shrink them here.
PRELUDE = (
    "from anyint_async import PollPolicy, TaskRoute\n"
    "from anyint_async.polling import DEFAULT_POLICIES\n"
    "for _route in TaskRoute:\n"
    "    DEFAULT_POLICIES[_route] = PollPolicy(first_poll=0.05, interval=0.05)\n"
)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for number, match in enumerate(_BLOCK.finditer(text), start=1):
            if match.group(1) is None:
                found.append((f"{page.relative_to(ROOT)}#{number}", match.group(2)))
    return found


BLOCKS = _blocks()


def test_there_are_blocks_to_run() -> None:
    assert len(BLOCKS) >= 5
    assert any(name.startswith("README.md") for name, _ in BLOCKS)


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "anyint_async.testing", "--port", "0", "--time-scale", "0.001"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:")
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[name for name, _ in BLOCKS])
async def test_block_runs(gateway_url: str, name: str, code: str, tmp_path: Path) -> None:
    env = {**os.environ, "ANYINT_API_KEY": "docs-key", "ANYINT_BASE_URL": gateway_url}
    env.pop("ANYINT_LOG", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PRELUDE + code,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, f"{name} failed:\n{err.decode()}"
