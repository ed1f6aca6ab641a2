"""``ANYINT_LOG=debug|info``: the SDK's logs on stderr without touching code.

The SDK logs on the standard ``logging`` loggers under ``anyint_async`` and adds no handler of its
own unless asked: an application's logging setup stays the application's. The variable is for
when there is none (a script, a quick look at a production box), as ``OPENAI_LOG`` is for
openai-python.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["LOG_ENV", "configure_from_env"]

LOG_ENV = "ANYINT_LOG"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_HANDLER_NAME = "anyint_async.env"


def configure_from_env() -> None:
    """Honour ``ANYINT_LOG`` once: set the level and add one stderr handler (idempotent)."""
    level = _LEVELS.get(os.environ.get(LOG_ENV, "").strip().lower())
    if level is None:
        return
    logger = logging.getLogger("anyint_async")
    logger.setLevel(level)
    if any(handler.get_name() == _HANDLER_NAME for handler in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
