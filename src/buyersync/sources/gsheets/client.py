"""The HTTP side of the Sheets reader: requests under the outbound policy, retries.

Every request (and token refresh) is made under the outbound policy
(:mod:`buyersync.outbound`). 429, 5xx, 408, timeouts, connection errors and unusable
answers are retried with backoff; anything else fails at once with an error naming the
spreadsheet and what to check.
"""

from __future__ import annotations

from typing import Any

import httpx

from buyersync import outbound
from buyersync.errors import RateLimited, SourceError, SourceUnavailable
from buyersync.outbound import Answer, HttpPolicy, LimitExceeded
from buyersync.retrying import Clock, Retrying, Sleep
from buyersync.rules.backoff import BackoffPolicy, Random
from buyersync.rules.categories import error_class_for_http_status
from buyersync.sources.gsheets.auth import _first_line

_RETRYABLE = frozenset({429, 500, 502, 503, 504, 408})


class _BadAnswer(Exception):
    """An answer that cannot be used (bad JSON, short range); retried like a 5xx."""


class _Transient(Exception):
    """One request failed in a way another try may not: what to raise if none succeeds."""

    def __init__(
        self,
        reason: str,
        error: type[SourceUnavailable] = SourceUnavailable,
        *,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.error = error
        self.retry_after = retry_after


class SheetsClient:
    """Authenticated requests to the Sheets API with retries, for the reader and writer.

    The subclass sets the attributes in its ``__init__``.
    """

    spreadsheet_id: str
    api_url: str
    #: The outbound policy every request is made under; ``timeout`` is its deadline.
    policy: HttpPolicy
    timeout: float
    max_attempts: int
    max_wait: float
    backoff: float
    _sleep: Sleep
    _clock: Clock
    _rand: Random
    _credentials: Any
    _client: httpx.Client | None

    def _auth_headers(self) -> dict[str, str]:
        creds = self._credentials
        if creds is None:
            return {}
        if not creds.valid:
            from google.auth.exceptions import GoogleAuthError, TransportError

            request = outbound.GoogleAuthRequest(self.policy)
            try:
                creds.refresh(request)
            except TransportError as exc:
                if isinstance(exc.__cause__, LimitExceeded) and not exc.__cause__.retryable:
                    raise _limit_error(exc.__cause__) from exc
                raise SourceUnavailable(
                    f"cannot reach the Google token endpoint ({type(exc).__name__})",
                    hint="check the network; the sync will retry",
                ) from exc
            except GoogleAuthError as exc:
                raise SourceUnavailable(
                    f"Google refused the credentials: {_first_line(exc)}",
                    hint="check that the key in GOOGLE_APPLICATION_CREDENTIALS is current "
                    "and not deleted, or run: gcloud auth application-default login",
                ) from exc
            finally:
                request.close()
        return {"Authorization": f"Bearer {creds.token}"}

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = outbound.client(self.policy)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _fetch(self, url: str, params: dict[str, str], what: str, payload: Any = None) -> Answer:
        """GET ``url`` within the policy: the status, headers and (bounded) body.

        The body of a 200 is returned apart from httpx's Response: the Response and its
        stream refer to each other, so a kept response (with a 15 MB page body) lives
        until the cyclic collector's rare full pass.
        """
        client = self._http()
        if payload is not None:  # a write (buyersync.sources.gsheets_write)
            request = client.build_request(
                "POST", url, params=params, json=payload, headers=self._auth_headers()
            )
        else:
            request = client.build_request("GET", url, params=params, headers=self._auth_headers())
        return outbound.fetch(client, request, self.policy, f"the answer to the {what}")

    def _get(
        self, path: str, params: dict[str, str], what: str, check: Any = None, payload: Any = None
    ) -> dict[str, Any]:
        """GET with retries; returns parsed JSON that ``check`` accepted.

        429/5xx/408, timeouts, connection errors and unusable answers are retried with
        exponential backoff (``Retry-After`` honoured) up to ``max_attempts`` tries and
        ``max_wait`` seconds of sleep; then :class:`SourceUnavailable` (or its
        :class:`RateLimited` / :class:`SourceTimeout`) is raised.
        """
        url = f"{self.api_url}{path}"
        # Several readers may hit the same quota at once: a quarter of jitter spreads them.
        policy = BackoffPolicy(
            max_attempts=max(1, self.max_attempts) - 1,
            base_seconds=self.backoff,
            max_seconds=max(self.max_wait, self.backoff),
            jitter=0.25,
        )
        retrying = Retrying(
            policy,
            retry_on=_Transient,
            retry_after=lambda exc: exc.retry_after if isinstance(exc, _Transient) else None,
            max_wait=self.max_wait,
            sleep=self._sleep,
            clock=self._clock,
            rand=self._rand,
        )
        try:
            return retrying.call(lambda: self._get_once(url, params, what, check, payload))
        except _Transient as exc:
            kind = "rate limit (HTTP 429)" if exc.error is RateLimited else "failure"
            raise exc.error(
                f"Google Sheets {what} of spreadsheet {self.spreadsheet_id} failed after "
                f"{retrying.attempts} attempts and {retrying.waited:.1f} s of waiting: "
                f"{exc}; the sheet was not read whole and nothing from it may be used",
                hint="the read quota resets every minute; the run will be retried"
                if exc.error is RateLimited
                else f"Google's {kind} may be temporary; the run will be retried",
                details={
                    "attempts": retrying.attempts,
                    "waited_seconds": round(retrying.waited, 1),
                },
            ) from exc

    def _get_once(
        self, url: str, params: dict[str, str], what: str, check: Any, payload: Any = None
    ) -> dict[str, Any]:
        """One request (a GET, or a POST of ``payload``): the accepted JSON, or
        :class:`_Transient` (try again), or a final error."""
        try:
            response = self._fetch(url, params, what, payload)
        except LimitExceeded as exc:
            if exc.retryable:  # silent until the deadline: another try may be answered
                raise _Transient(f"no answer within {self.timeout:g} s") from exc
            raise _limit_error(
                exc, f"Google Sheets {what} of spreadsheet {self.spreadsheet_id}"
            ) from exc
        except httpx.TimeoutException as exc:
            raise _Transient(f"no answer within {self.timeout:g} s") from exc
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__})") from exc
        status = response.status
        if status in _RETRYABLE:
            raise _Transient(
                f"HTTP {status}{_google_message(response)}",
                error_class_for_http_status(status),
                retry_after=response.headers.get("Retry-After"),
            )
        if status != 200:
            raise self._final_error(status, response, what)
        try:
            body = outbound.parse_json(response.body, self.policy, f"the answer to the {what}")
            if not isinstance(body, dict):
                raise _BadAnswer("the answer is not a JSON object")
            if check is not None:
                check(body)
            return body
        except LimitExceeded as exc:
            raise _limit_error(
                exc, f"Google Sheets {what} of spreadsheet {self.spreadsheet_id}"
            ) from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise _Transient("the answer was not complete JSON (cut off?)") from exc
        except _BadAnswer as exc:
            raise _Transient(str(exc)) from exc

    def _final_error(self, status: int, response: Answer, what: str) -> SourceError:
        msg = _google_message(response)
        sid = self.spreadsheet_id
        if status == 404:
            return SourceUnavailable(
                f"spreadsheet {sid} was not found (HTTP 404{msg})",
                hint="check the spreadsheet id in --source (the part after /d/ in its URL)",
            )
        if status in (401, 403):
            email = getattr(self._credentials, "service_account_email", None)
            who = f"the service account {email}" if email else "the service account"
            return SourceUnavailable(
                f"Google refused access to spreadsheet {sid} (HTTP {status}{msg})",
                hint=f"share the sheet with {who} (Viewer is enough) and check that the "
                "Sheets API is enabled for its project",
            )
        return SourceError(
            f"Google Sheets {what} of spreadsheet {sid} was refused (HTTP {status}{msg})",
            hint="check --sheet, --header-row and the spreadsheet id",
        )


def _google_message(response: Answer) -> str:
    """Google's one-line reason from an error answer (its first few KB only)."""
    try:
        answer = outbound.parse_json(response.body, outbound.HttpPolicy(), "an error answer")
        err = answer.get("error", {}) if isinstance(answer, dict) else None
        message = err.get("message") if isinstance(err, dict) else None
    except (ValueError, LimitExceeded):
        message = None
    return f": {str(message)[:200]}" if isinstance(message, str) and message else ""


#: The flag of each setting a limit names, for the hint.
_LIMIT_FLAGS = {
    "sheets_timeout_seconds": "--sheets-timeout",
    "http_max_response_bytes": "--http-max-response-bytes",
    "http_max_json_depth": "--http-max-json-depth",
    "http_max_json_values": "--http-max-json-values",
}


def _limit_error(exc: LimitExceeded, who: str = "Google") -> SourceError:
    """A request stopped at a limit of the outbound policy: not retried (the peer
    would do it again), the read fails whole."""
    flag = _LIMIT_FLAGS.get(exc.setting)
    return SourceError(
        f"{who} stopped at the {exc.limit} limit: {exc}; the sheet was not read whole "
        "and nothing from it may be used",
        hint=f"if the sheet really needs more, raise {exc.setting}"
        + (f" ({flag})" if flag else "")
        + "; otherwise check what answers at --sheets-api-url (a proxy?)",
        details={"limit": exc.limit, "setting": exc.setting},
    )
