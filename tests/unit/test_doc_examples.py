"""The examples in docstrings run as written (those that need a live session are skipped)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "anyint_async._callbacks",
    "anyint_async._convert",
    "anyint_async._errors",
    "anyint_async._retry",
    "anyint_async.batch.keys",
    "anyint_async.batch.requests",
    "anyint_async.batch.result",
    "anyint_async.download",
    "anyint_async.models",
    "anyint_async.coordination.lease",
    "anyint_async.polling.budget",
    "anyint_async.polling.claimed_ages",
    "anyint_async.polling.cooldown",
    "anyint_async.polling.events",
    "anyint_async.polling.learning",
    "anyint_async.polling.policy",
    "anyint_async.providers._workload",
    "anyint_async.testing._callbacks",
    "anyint_async.testing._faults",
    "anyint_async.testing._rate_limit",
    "anyint_async.testing._timing",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
