"""Batch runs that survive crashes: keys, requests, routes, a journal, saving, a manifest, the
runner."""

from .journal import JOURNAL_NAME, JobRecord, Journal, Phase
from .keys import KEY_MAX_LENGTH, key_problem
from .lock import LOCK_NAME, BatchLockedError, LockHolder
from .manifest import MANIFEST_NAME, write_manifest
from .requests import BatchFileError, BatchRequest, load_requests, parse_requests
from .result import BatchResult
from .routes import BATCH_ROUTES, ROUTES, BatchRoute
from .runner import BatchProgress, BatchResults, BatchRunner

__all__ = [
    "BATCH_ROUTES",
    "JOURNAL_NAME",
    "KEY_MAX_LENGTH",
    "LOCK_NAME",
    "MANIFEST_NAME",
    "ROUTES",
    "BatchFileError",
    "BatchLockedError",
    "BatchProgress",
    "BatchRequest",
    "BatchResult",
    "BatchResults",
    "BatchRoute",
    "BatchRunner",
    "JobRecord",
    "Journal",
    "LockHolder",
    "Phase",
    "key_problem",
    "load_requests",
    "parse_requests",
    "write_manifest",
]
