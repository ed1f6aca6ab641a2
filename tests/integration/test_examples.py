"""The runnable example scripts run as written (the FastAPI one has its own test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_quickstart_runs_every_route_against_the_simulated_gateway() -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and example
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "kling.omni_video   -> SUCCEEDED" in done.stdout
    assert "gateway saw" in done.stdout
