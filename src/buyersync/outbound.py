"""The one policy for every outbound HTTP request: a total deadline, byte caps, bounded JSON.

Every request buyersync makes to a peer goes through :func:`fetch`: the Google Sheets
values and metadata requests (:mod:`buyersync.sources.gsheets`), the Google token
endpoint (through :class:`GoogleAuthRequest`, the google-auth transport built on it)
and the alert webhook (:mod:`buyersync.services.notify`). A peer is not trusted to be
quick or small:

* **A total deadline per request**, from connecting to the last byte of the answer.
  httpx's timeouts are per socket operation, so a peer that drips one byte a second
  never trips them; here every socket read, write, connect and TLS handshake of the
  request gets at most the time left, so the request ends at its deadline whatever
  the peer does (headers included).
* **A cap on the bytes of an answer**: a success body is read up to
  ``max_body_bytes`` (a ``Content-Length`` over it is refused before reading, a body
  without one is cut off at the cap, counted after any gzip decoding); an error body
  is only ever read up to :data:`ERROR_BODY_BYTES` and the rest is dropped.
* **Bounded JSON**: :func:`parse_json` measures nesting depth and the number of values
  before :func:`json.loads` builds anything, so deep nesting is an error naming the
  limit (never a ``RecursionError``) and a body of millions of tiny values cannot
  turn into gigabytes of Python objects.

Hitting a limit raises :class:`LimitExceeded`, which names the limit and the setting
that raises it; callers turn it into their own error class (a source error: the sync
exits 3; a failed alert channel, which never breaks the check). Retries are not made
here: the one retry loop is :class:`buyersync.retrying.Retrying`, and callers tell
it which failures another try may cure (:attr:`LimitExceeded.retryable`).

The same total deadline bounds an SMTP conversation: :class:`Deadline` is shared with
:mod:`buyersync.services.notify`.
"""

from __future__ import annotations

import contextvars
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # httpx takes a noticeable part of a second to import: only when used
    import httpcore
    import httpx

#: Bytes of an error answer that are read (enough for Google's error JSON); the rest
#: of the body is never read.
ERROR_BODY_BYTES = 8192
#: Defaults of the settings of the same names (``buyersync.settings``).
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 32
DEFAULT_MAX_JSON_VALUES = 2_000_000


class LimitExceeded(Exception):
    """A peer's answer went past a limit of the policy.

    ``limit`` names it in words, ``setting`` is the setting that raises it.
    ``retryable`` is true only for a deadline that passed before the peer sent a
    single byte (a silent peer, as a per-read timeout used to be); a peer that was
    answering too slowly, too much or too deep would do it again.
    """

    def __init__(self, message: str, *, limit: str, setting: str, retryable: bool = False):
        super().__init__(message)
        self.limit = limit
        self.setting = setting
        self.retryable = retryable


@dataclass(frozen=True)
class HttpPolicy:
    """The limits of one kind of request. ``*_setting`` name the settings for messages."""

    deadline_seconds: float = 30.0
    deadline_setting: str = "sheets_timeout_seconds"
    max_body_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    max_json_values: int = DEFAULT_MAX_JSON_VALUES
    connect_seconds: float = 10.0


class Deadline:
    """A point in monotonic time; :meth:`remaining` is what a step may still take."""

    def __init__(self, seconds: float, setting: str) -> None:
        self.seconds = seconds
        self.setting = setting
        self.at = time.monotonic() + seconds
        self.received = 0  # bytes read from the peer so far

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def budget(self, timeout: float | None) -> float:
        """``timeout`` cut to the time left (never below a millisecond, so a socket
        call still times out rather than blocking)."""
        left = max(self.remaining(), 0.001)
        return left if timeout is None else min(timeout, left)

    def exceeded(self, what: str) -> LimitExceeded:
        return LimitExceeded(
            f"{what} took longer than {self.seconds:g} s in total (the {self.setting} limit)",
            limit="total deadline",
            setting=self.setting,
            retryable=self.received == 0,
        )


#: The deadline of the request running in this thread (connections are reused across
#: requests, so the stream asks for it at every call rather than keeping one).
_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "buyersync_http_deadline", default=None
)


class _DeadlineStream:
    """An ``httpcore.NetworkStream`` whose every call gets at most the time left."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = _CURRENT.get()
        if deadline is None:
            return self._stream.read(max_bytes, timeout)
        if deadline.expired():
            import httpcore

            raise httpcore.ReadTimeout("total deadline passed")
        data = self._stream.read(max_bytes, deadline.budget(timeout))
        deadline.received += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        deadline = _CURRENT.get()
        if deadline is not None and deadline.expired():
            import httpcore

            raise httpcore.WriteTimeout("total deadline passed")
        self._stream.write(buffer, deadline.budget(timeout) if deadline else timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> _DeadlineStream:
        deadline = _CURRENT.get()
        budget = deadline.budget(timeout) if deadline else timeout
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, budget))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend:
    """An ``httpcore.NetworkBackend`` whose connections are :class:`_DeadlineStream`."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> _DeadlineStream:
        deadline = _CURRENT.get()
        budget = deadline.budget(timeout) if deadline else timeout
        return _DeadlineStream(
            self._backend.connect_tcp(host, port, budget, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> _DeadlineStream:
        deadline = _CURRENT.get()
        budget = deadline.budget(timeout) if deadline else timeout
        return _DeadlineStream(self._backend.connect_unix_socket(path, budget, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def client(policy: HttpPolicy, **kwargs: Any) -> httpx.Client:
    """An httpx client whose every socket operation honours the running request's
    deadline (proxies from the environment included)."""
    import httpx

    timeout = httpx.Timeout(policy.deadline_seconds, connect=policy.connect_seconds)
    made = httpx.Client(timeout=timeout, **kwargs)
    pools = [made._transport, *made._mounts.values()]
    for transport in pools:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            # Without the hook only the body is bounded (checked per chunk below);
            # a test of the dripping headers fails loudly if httpcore changes.
            continue
        if not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return made


@contextmanager
def deadline(seconds: float, setting: str) -> Iterator[Deadline]:
    """Run the block under a total deadline that the sockets of :func:`client` obey."""
    current = Deadline(seconds, setting)
    token = _CURRENT.set(current)
    try:
        yield current
    finally:
        _CURRENT.reset(token)


@dataclass
class Answer:
    """A response read within the policy: the status, the headers and the body read
    (a success body whole; an error body only its first :data:`ERROR_BODY_BYTES`)."""

    status: int
    headers: httpx.Headers
    body: bytes | bytearray = field(repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def fetch(
    http: httpx.Client, request: httpx.Request, policy: HttpPolicy, what: str, *, body: bool = True
) -> Answer:
    """Send ``request`` and read its answer within ``policy``.

    With ``body=False`` (a peer whose answer is not used: the webhook) only the first
    :data:`ERROR_BODY_BYTES` are read, whatever the status.

    Raises :class:`LimitExceeded` (deadline, size) and lets httpx's transport errors
    through (connection refused, reset) for the caller to classify.
    """
    import httpx

    with deadline(policy.deadline_seconds, policy.deadline_setting) as due:
        try:
            response = http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            # A socket timeout cut to the time left fires a hair before the deadline.
            if due.remaining() < 0.05:
                raise due.exceeded(what) from exc
            raise
        try:
            if not body or not 200 <= response.status_code < 300:
                return Answer(response.status_code, response.headers, _read_prefix(response, due))
            _refuse_declared_size(response, policy, what)
            return Answer(
                response.status_code, response.headers, _read_capped(response, policy, due, what)
            )
        except httpx.TimeoutException as exc:
            raise due.exceeded(what) from exc
        finally:
            response.close()


def _read_prefix(response: httpx.Response, due: Deadline) -> bytes:
    """The first :data:`ERROR_BODY_BYTES` of an error body; the rest is never read.
    A deadline passing here keeps what came (an error answer is already an answer)."""
    import httpx

    got = bytearray()
    try:
        for chunk in response.iter_bytes():
            got += chunk
            if len(got) >= ERROR_BODY_BYTES or due.expired():
                break
    except (httpx.TimeoutException, httpx.TransportError, httpx.DecodingError):
        pass
    return bytes(got[:ERROR_BODY_BYTES])


def _refuse_declared_size(response: httpx.Response, policy: HttpPolicy, what: str) -> None:
    declared = response.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > policy.max_body_bytes:
        raise LimitExceeded(
            f"{what} announced {int(declared):,} bytes, over the {policy.max_body_bytes:,}-byte "
            "limit (http_max_response_bytes); nothing of it was read",
            limit="response size",
            setting="http_max_response_bytes",
        )


def _read_capped(
    response: httpx.Response, policy: HttpPolicy, due: Deadline, what: str
) -> bytearray:
    # One growing buffer, not a list of chunks joined at the end: the join would hold
    # the body twice.
    body = bytearray()
    for chunk in response.iter_bytes():
        if len(body) + len(chunk) > policy.max_body_bytes:
            raise LimitExceeded(
                f"{what} sent more than {policy.max_body_bytes:,} bytes (the "
                "http_max_response_bytes limit); the rest was not read",
                limit="response size",
                setting="http_max_response_bytes",
            )
        body += chunk
        if due.expired():
            raise due.exceeded(what)
    return body


# A JSON string (escapes included); what is left once strings are blanked out is the
# structure, whose brackets and commas are counted at C speed.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_INNERMOST = re.compile(r"\[[^\[\]{}]*\]|\{[^\[\]{}]*\}")


def parse_json(body: bytes | bytearray, policy: HttpPolicy, what: str) -> Any:
    """``json.loads(body)`` once the body is known to be within the depth and value
    limits. Raises :class:`LimitExceeded`, :class:`ValueError` (not JSON, not UTF-8).

    A ``bytearray`` body is consumed (emptied once decoded), so a large page is held
    as bytes or as text, never as both.
    """
    text = body.decode("utf-8")
    if isinstance(body, bytearray):
        body.clear()
    structure = _STRING.sub("0", text)
    values = structure.count(",") + structure.count("[") + structure.count("{") + 1
    if values > policy.max_json_values:
        raise LimitExceeded(
            f"{what} holds more than {policy.max_json_values:,} JSON values (the "
            "http_max_json_values limit)",
            limit="JSON values",
            setting="http_max_json_values",
        )
    depth = 0
    # Each pass folds the innermost arrays and objects into a scalar: the number of
    # passes until no bracket is left is the nesting depth.
    while "[" in structure or "{" in structure:
        depth += 1
        if depth > policy.max_json_depth:
            raise LimitExceeded(
                f"{what} is nested deeper than {policy.max_json_depth} levels (the "
                "http_max_json_depth limit)",
                limit="JSON depth",
                setting="http_max_json_depth",
            )
        folded = _INNERMOST.sub("0", structure)
        if folded == structure:
            break  # unbalanced: json.loads says where
        structure = folded
    del structure
    try:
        return json.loads(text)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise LimitExceeded(
            f"{what} is nested too deep to parse (the http_max_json_depth limit)",
            limit="JSON depth",
            setting="http_max_json_depth",
        ) from None


class GoogleAuthRequest:
    """A google-auth transport (``google.auth.transport.Request``) over :func:`fetch`,
    so token refreshes get the same deadline and caps as the Sheets requests.

    Failures are google-auth's ``TransportError`` (what its credentials expect), with
    the :class:`LimitExceeded` or httpx error as ``__cause__``.
    """

    def __init__(self, policy: HttpPolicy) -> None:
        self.policy = policy
        self._http = client(policy)

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        import httpx
        from google.auth import exceptions

        request = self._http.build_request(method, url, content=body, headers=headers)
        try:
            answer = fetch(self._http, request, self.policy, "the Google token endpoint's answer")
            answer.body = bytes(answer.body)  # google-auth reads it after the check
            if answer.ok:
                # google-auth parses the token answer itself, unbounded: check it first.
                parse_json(answer.body, self.policy, "the Google token endpoint's answer")
        except (LimitExceeded, httpx.HTTPError) as exc:
            raise exceptions.TransportError(str(exc) or type(exc).__name__) from exc
        except ValueError:
            pass  # not JSON: google-auth reports it in its own words
        return _AuthResponse(answer)

    def close(self) -> None:
        self._http.close()


class _AuthResponse:
    """``google.auth.transport.Response``: status, headers, data."""

    def __init__(self, answer: Answer) -> None:
        self.status = answer.status
        self.headers = dict(answer.headers)
        self.data = answer.body


__all__ = [
    "ERROR_BODY_BYTES",
    "Answer",
    "Deadline",
    "GoogleAuthRequest",
    "HttpPolicy",
    "LimitExceeded",
    "client",
    "deadline",
    "fetch",
    "parse_json",
]
