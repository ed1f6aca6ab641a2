"""The simulated gateway shares no code with the client it tests."""

from __future__ import annotations

import ast
from pathlib import Path

import anyint_async.testing

TESTING_DIR = Path(anyint_async.testing.__file__).parent


def test_testing_package_imports_no_client_module() -> None:
    offenders = []
    for path in sorted(TESTING_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level >= 2 or (
                    node.level == 0
                    and module.startswith("anyint_async")
                    and not module.startswith("anyint_async.testing")
                ):
                    offenders.append(f"{path.name}: from {'.' * node.level}{module}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("anyint_async") and not alias.name.startswith(
                        "anyint_async.testing"
                    ):
                        offenders.append(f"{path.name}: import {alias.name}")
    assert offenders == []
    assert len(list(TESTING_DIR.glob("*.py"))) >= 8  # the scan saw the package
