"""Batch runs that survive crashes: requests, a durable journal, a manifest, the runner."""

from .journal import JOURNAL_NAME, JobRecord, Journal, Phase
from .manifest import MANIFEST_NAME, write_manifest
from .requests import BATCH_ROUTES, BatchFileError, BatchRequest, load_requests, parse_requests
from .runner import BatchProgress, BatchResult, BatchResults, BatchRunner

__all__ = [
    "BATCH_ROUTES",
    "JOURNAL_NAME",
    "MANIFEST_NAME",
    "BatchFileError",
    "BatchProgress",
    "BatchRequest",
    "BatchResult",
    "BatchResults",
    "BatchRunner",
    "JobRecord",
    "Journal",
    "Phase",
    "load_requests",
    "parse_requests",
    "write_manifest",
]
