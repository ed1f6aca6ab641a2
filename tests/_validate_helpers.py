"""Small predicates over the public validators, for property tests."""

from __future__ import annotations

from anyint_async import InvalidParameterError
from anyint_async._validate import check_task_id


def is_valid_task_id(value: str) -> bool:
    """True when ``value`` may stand in a query URL as a task id (or external id)."""
    try:
        check_task_id(value)
    except InvalidParameterError:
        return False
    return True
