"""The one place that sends HTTP: auth, JSON, timeouts, retries and error mapping.

It knows nothing of DashScope or Kling. A provider describes its envelope once, as a
:class:`WireDialect` (where an error hides in a 200 body, which codes are billing limits that
never heal, which throttling codes prove nothing was created), and hands it in with each call.

The rule that protects users' money: a request that **creates** a task is sent again only when the
failure shows that nothing was created (the connection was never made, or a throttling answer
refused it before processing). Any other failure of a create is raised with
``may_have_created_task=True``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import aiohttp
from attrs import frozen
from yarl import URL

from . import _errors as errors
from ._retry import RetryPolicy, parse_retry_after
from ._telemetry import Telemetry
from ._version import __version__

__all__ = [
    "ApiCall",
    "ApiResponse",
    "ConnectionPool",
    "ErrorReport",
    "Transport",
    "WireDialect",
    "read_timeout",
]

logger = logging.getLogger("anyint_async")

_USER_AGENT = f"anyint_async/{__version__}"
_STATUS_ERRORS: dict[int, type[errors.APIStatusError]] = {
    400: errors.BadRequestError,
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    422: errors.BadRequestError,
    429: errors.RateLimitError,
}
_TRANSIENT_STATUSES = frozenset({408, 409, 429})


@frozen
class ErrorReport:
    """An error as the provider reported it: effective HTTP status, code, message, request id."""

    status: int
    code: str | None
    message: str
    request_id: str | None


def _no_error_in_success(body: Mapping[str, Any]) -> ErrorReport | None:
    return None


@frozen
class WireDialect:
    """What the transport must know about one provider's envelope, and nothing more.

    - ``error_in_success``: finds an error inside a 2xx body (Kling reports some with HTTP 200).
    - ``permanent_codes``: codes that come with a transient-looking status (429) but never heal
      by waiting (billing, quota, IP whitelist): not retried.
    - ``rejected_codes``: codes that prove a create was refused before processing, so sending
      it again cannot duplicate a task. A 429 with no code at all counts too: that is a rate
      limiter in front of the provider.
    """

    name: str
    error_in_success: Callable[[Mapping[str, Any]], ErrorReport | None] = _no_error_in_success
    permanent_codes: frozenset[str] = frozenset()
    rejected_codes: frozenset[str] = frozenset()


@frozen
class ApiCall:
    """One logical request; the transport may send it more than once (see module doc).

    ``timeout`` replaces the session's for this call (a route whose answer takes minutes);
    ``ambiguity_hint`` is what a create's error says when its outcome is unknown, where the
    general advice (look the task up) does not hold for the route.
    """

    method: str
    path: str
    dialect: WireDialect
    creates_task: bool = False
    body: Mapping[str, Any] | None = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    timeout: aiohttp.ClientTimeout | None = None
    ambiguity_hint: str | None = None


@frozen
class ApiResponse:
    """A successful answer: HTTP status, decoded JSON object, the request id if any."""

    status: int
    body: Mapping[str, Any]
    request_id: str | None


class _AttemptFailedError(Exception):
    """One attempt's failure, classified; carries the error to raise if it is the last."""

    def __init__(
        self,
        error: errors.APIError,
        *,
        transient: bool,
        nothing_sent: bool = False,
        rejected: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.transient = transient
        self.nothing_sent = nothing_sent
        self.rejected = rejected
        self.retry_after = retry_after

    def leaves_create_ambiguous(self, call: ApiCall) -> bool:
        """For a create: the request may have been processed (nothing shows it was not)."""
        return call.creates_task and not (self.nothing_sent or self.rejected)


class _BearerToken:
    """Holds the API key so that no repr, str or log line can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def header(self) -> str:
        return f"Bearer {self._value}"

    def __repr__(self) -> str:
        return "<api key hidden>"

    __str__ = __repr__


class ConnectionPool:
    """The one ``aiohttp.ClientSession`` every request of a session goes through.

    Whoever creates the ``aiohttp.ClientSession`` closes it: the pool closes the one it made and
    never one it borrowed.
    """

    def __init__(
        self, *, max_connections: int, http_session: aiohttp.ClientSession | None = None
    ) -> None:
        self._max_connections = max_connections
        self._http = http_session
        self._owns_http = http_session is None
        self.closed = False

    def session(self) -> aiohttp.ClientSession:
        if self.closed:
            raise errors.SessionClosedError(
                "this AnyIntSession is closed; create a new one (or use `async with`)"
            )
        if self._http is None:
            # Created lazily: aiohttp wants its session made inside a running event loop, and
            # users construct AnyIntSession at import time in web apps.
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=self._max_connections
            )
            self._http = aiohttp.ClientSession(connector=connector)
        elif self._http.closed:
            raise errors.SessionClosedError(
                "the aiohttp.ClientSession passed as http_session= is closed"
            )
        return self._http

    async def close(self) -> None:
        """Close the owned session; a borrowed one is left open. Idempotent."""
        self.closed = True
        if self._owns_http and self._http is not None:
            http, self._http = self._http, None
            await http.close()


class Transport:
    """Sends :class:`ApiCall`s to one gateway through a :class:`ConnectionPool`."""

    def __init__(
        self,
        *,
        base_url: URL,
        api_key: str,
        timeout: aiohttp.ClientTimeout,
        retry: RetryPolicy,
        pool: ConnectionPool,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._base = str(base_url).rstrip("/")
        #: Spans and metrics (a no-op without OpenTelemetry); providers open create spans on it.
        self.telemetry = telemetry or Telemetry(enabled=False)
        self._token = _BearerToken(api_key)
        self._timeout = timeout
        self._retry = retry
        self._pool = pool
        self._rng = rng or random.Random()
        self._sleep = sleep

    def with_retry(self, retry: RetryPolicy) -> Transport:
        """The same gateway, key and pool, with another retry policy.

        The polling scheduler uses one with no retries: it reschedules a failed query itself and
        pauses every query together on a 429, which per-request retries would defeat.
        """
        view = copy.copy(self)
        view._retry = retry
        return view

    @property
    def closed(self) -> bool:
        return self._pool.closed

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def timeout(self) -> aiohttp.ClientTimeout:
        return self._timeout

    async def close(self) -> None:
        """Close the pool (see :meth:`ConnectionPool.close`)."""
        await self._pool.close()

    async def request(self, call: ApiCall) -> ApiResponse:
        """Send ``call``, retrying what may heal, and return the decoded answer or raise."""
        delays = self._retry.delays(self._rng)
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = await self._attempt(call)
            except _AttemptFailedError as failure:
                _log_attempt(call, attempt, started, failure.error)
                wait = self._wait_before_retry(call, failure, attempt, delays)
                if wait is None:
                    raise self._final_error(call, failure) from failure.error.__cause__
                logger.debug(
                    "retrying %s %s in %.2fs after attempt %d: %s",
                    call.method,
                    call.path,
                    wait,
                    attempt,
                    failure.error,
                )
                await self._sleep(wait)
            else:
                _log_attempt(call, attempt, started, response)
                return response

    def _wait_before_retry(
        self,
        call: ApiCall,
        failure: _AttemptFailedError,
        attempt: int,
        delays: Iterator[float],
    ) -> float | None:
        if attempt > self._retry.max_retries or not failure.transient:
            return None
        if failure.leaves_create_ambiguous(call):
            return None
        if failure.retry_after is not None:
            if failure.retry_after > self._retry.max_retry_after:
                return None
            next(delays)  # keep the exponential sequence advancing
            return failure.retry_after
        wait: float = next(delays)
        return wait

    @staticmethod
    def _final_error(call: ApiCall, failure: _AttemptFailedError) -> errors.APIError:
        error = failure.error
        if failure.leaves_create_ambiguous(call) and not _is_client_rejection(error):
            error.mark_may_have_created_task(call.ambiguity_hint)
        return error

    async def _attempt(self, call: ApiCall) -> ApiResponse:
        http = self._pool.session()
        url = self._base + call.path
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        if call.headers:
            headers.update(call.headers)
        data = None if call.body is None else json.dumps(call.body, ensure_ascii=False)
        timeout = call.timeout or self._timeout
        try:
            async with http.request(
                call.method,
                url,
                data=data,
                params=call.params,
                # Built inline so that no local variable of this frame holds the key.
                headers={**headers, "Authorization": self._token.header()},
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                header_request_id = response.headers.get("X-Request-Id")
        except aiohttp.ConnectionTimeoutError as exc:
            raise _AttemptFailedError(
                _chained(errors.APITimeoutError(f"timed out connecting to {self._base}"), exc),
                transient=True,
                nothing_sent=True,
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise _AttemptFailedError(
                _chained(
                    errors.APIConnectionError(f"could not connect to {self._base}: {exc.os_error}"),
                    exc,
                ),
                transient=True,
                nothing_sent=True,
            ) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise _AttemptFailedError(
                _chained(
                    errors.APITimeoutError(
                        f"{call.method} {call.path} got no answer within {_limit(timeout)}"
                    ),
                    exc,
                ),
                transient=True,
            ) from exc
        except aiohttp.ClientError as exc:
            raise _AttemptFailedError(
                _chained(
                    errors.APIConnectionError(
                        f"{call.method} {call.path} failed mid-request: {type(exc).__name__}: {exc}"
                    ),
                    exc,
                ),
                transient=True,
            ) from exc
        return self._interpret(call, status, raw, retry_after, header_request_id)

    def _interpret(
        self,
        call: ApiCall,
        status: int,
        raw: bytes,
        retry_after: float | None,
        header_request_id: str | None,
    ) -> ApiResponse:
        body = _decode_json(raw)
        request_id = _request_id(body, header_request_id)
        dialect = call.dialect
        if 200 <= status < 300:
            if not isinstance(body, Mapping):
                invalid = errors.APIResponseValidationError(
                    f"{call.method} {call.path} answered {status} with a body that is not a JSON "
                    f"object: {_excerpt(raw)}",
                    request_id=request_id,
                )
                raise _AttemptFailedError(invalid, transient=not call.creates_task)
            report = dialect.error_in_success(body)
            if report is None:
                return ApiResponse(status=status, body=body, request_id=request_id)
        else:
            report = _report_from_error_body(status, body, raw, request_id)
        error = _status_error(report, retry_after)
        permanent = report.code is not None and report.code in dialect.permanent_codes
        transient = not permanent and (report.status in _TRANSIENT_STATUSES or report.status >= 500)
        rejected = report.status == 429 and (
            report.code is None or report.code in dialect.rejected_codes
        )
        raise _AttemptFailedError(
            error, transient=transient, rejected=rejected, retry_after=retry_after
        )


def _log_attempt(
    call: ApiCall, attempt: int, started: float, outcome: ApiResponse | errors.APIError
) -> None:
    """One DEBUG line per HTTP request. The path holds no secret (the key travels in a header,
    which is never logged)."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    milliseconds = (time.monotonic() - started) * 1000
    if isinstance(outcome, ApiResponse):
        logger.debug(
            "%s %s -> %d (request_id=%s, attempt %d, %.0f ms)",
            call.method,
            call.path,
            outcome.status,
            outcome.request_id,
            attempt,
            milliseconds,
        )
    else:
        logger.debug(
            "%s %s -> failed (attempt %d, %.0f ms): %s",
            call.method,
            call.path,
            attempt,
            milliseconds,
            outcome,
        )


def _limit(timeout: aiohttp.ClientTimeout) -> str:
    seconds = timeout.sock_read if timeout.sock_read is not None else timeout.total
    return "the timeout" if seconds is None else f"{seconds:g} s"


def read_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """A request budget that bounds waiting, not reading: the answer must start within
    ``seconds`` and no read may stall longer, but an answer still coming at a normal pace is
    never cut off. The connection itself fails within 10 s, so a host that cannot be reached is
    known soon (and known to have received nothing)."""
    return aiohttp.ClientTimeout(total=None, sock_connect=min(10.0, seconds), sock_read=seconds)


def _chained(error: errors.APIError, cause: BaseException) -> errors.APIError:
    error.__cause__ = cause
    return error


def _is_client_rejection(error: errors.APIError) -> bool:
    # A 4xx other than a timeout-ish one means the provider looked at the request and refused it.
    return (
        isinstance(error, errors.APIStatusError)
        and 400 <= error.status < 500
        and (error.status not in (408, 409))
    )


def _decode_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _request_id(body: Any, header_value: str | None) -> str | None:
    if isinstance(body, Mapping):
        value = body.get("request_id")
        if isinstance(value, str) and value:
            return value
    return header_value


def _excerpt(raw: bytes, limit: int = 120) -> str:
    text = raw[:limit].decode("utf-8", errors="replace")
    return repr(text + ("..." if len(raw) > limit else ""))


def _report_from_error_body(
    status: int, body: Any, raw: bytes, request_id: str | None
) -> ErrorReport:
    # DashScope and Kling share the keys code/message/request_id in their error envelopes; only
    # the code's type differs (string vs int), so one reading serves both.
    if isinstance(body, Mapping):
        code = body.get("code")
        message = body.get("message")
        return ErrorReport(
            status=status,
            code=None if code is None or isinstance(code, bool) else str(code),
            message=str(message) if message else f"HTTP {status}",
            request_id=request_id,
        )
    text = f"HTTP {status} with a non-JSON body {_excerpt(raw)}" if raw else f"HTTP {status}"
    return ErrorReport(status=status, code=None, message=text, request_id=request_id)


def _status_error(report: ErrorReport, retry_after: float | None) -> errors.APIStatusError:
    cls = _STATUS_ERRORS.get(report.status)
    if cls is None and report.status >= 500:
        cls = errors.InternalServerError
    if cls is errors.RateLimitError:
        return errors.RateLimitError(
            report.message,
            status=report.status,
            code=report.code,
            request_id=report.request_id,
            retry_after=retry_after,
        )
    return (cls or errors.APIStatusError)(
        report.message, status=report.status, code=report.code, request_id=report.request_id
    )
