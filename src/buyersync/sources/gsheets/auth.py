"""Google credentials for the Sheets reader and writer.

A JSON file named by ``credentials_file`` or ``GOOGLE_APPLICATION_CREDENTIALS`` (a
service-account key, ``authorized_user`` or ``external_account``), else Application
Default Credentials, as ``google.auth.default`` finds them. Only when ``api_url`` is a
loopback address may credentials be absent. Keys are never logged or put in messages.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from buyersync import outbound
from buyersync.errors import ConfigError
from buyersync.outbound import HttpPolicy
from buyersync.rules.hosts import is_loopback

SCOPES = ["https://www.googleapis.com/auth/spreadsheets.readonly"]
#: The scope of :mod:`buyersync.sources.gsheets_write` (sheet_feedback on): notes and a tab.
SCOPES_READ_WRITE = ["https://www.googleapis.com/auth/spreadsheets"]


def load_credentials(path: str | None, scopes: list[str], api_url: str) -> Any:
    """The credentials to use, or ``None`` for the local stand-in server (no token)."""
    if path:
        return _credentials_from_file(path, scopes)
    adc = _adc_file()
    if adc.is_file():
        # gcloud auth application-default login: read as google.auth.default would,
        # but keeping a token_uri the file names (a private OAuth endpoint).
        return _credentials_from_file(str(adc), scopes)
    if _is_loopback(api_url):
        return None  # the local stand-in server: no token needed
    return _default_credentials(scopes)


def _adc_file() -> Path:
    """Where ``gcloud auth application-default login`` writes its credentials."""
    from google.auth import _cloud_sdk

    return Path(_cloud_sdk.get_application_default_credentials_path())


def _credentials_from_file(path: str, scopes: list[str] = SCOPES) -> Any:
    """Credentials from a JSON file of any type google-auth knows."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
        kind = info.get("type")
    except FileNotFoundError:
        raise ConfigError(
            f"Google credentials file {path} does not exist",
            hint="check GOOGLE_APPLICATION_CREDENTIALS / --google-credentials",
        ) from None
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"Google credentials file {path} is not a credentials JSON ({type(exc).__name__})",
            hint="use a service-account key, or the file written by "
            "gcloud auth application-default login",
        ) from None
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_file(path, scopes=scopes)
        if kind == "authorized_user":
            from google.oauth2.credentials import Credentials as UserCredentials

            user = UserCredentials.from_authorized_user_info(info, scopes=scopes)
            # google-auth always sets Google's endpoint here; a token_uri in the file
            # (a Private Service Connect endpoint, the local stand-in) is kept.
            token_uri = info.get("token_uri")
            return user.with_token_uri(token_uri) if isinstance(token_uri, str) else user
        # external_account: google-auth looks the project up (cloudresourcemanager)
        # while loading; the reader needs no project, so that lookup is not made.
        request = _NoProjectLookup()
        try:
            credentials, _project = google.auth.load_credentials_from_file(
                path, scopes=scopes, request=request
            )
        finally:
            request.close()
        return credentials
    except (ValueError, KeyError, DefaultCredentialsError) as exc:
        # The message names the type and the exception, never the key material.
        raise ConfigError(
            f"Google credentials file {path} (type {kind!r}) cannot be used ({type(exc).__name__})",
            hint="use a service-account key (IAM > Service accounts > Keys), an "
            "authorized_user file from gcloud auth application-default login, or an "
            "external_account file for workload identity federation",
        ) from None


class _NoProjectLookup:
    """A google-auth transport that answers the project lookup of ``external_account``
    credentials with "not found" instead of asking cloudresourcemanager (which a
    deployment may not reach), and makes every other request (the token exchange)."""

    def __init__(self) -> None:
        self._inner: outbound.GoogleAuthRequest | None = None

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        if urlsplit(url).hostname == "cloudresourcemanager.googleapis.com":
            return _NotFound()
        if self._inner is None:
            self._inner = outbound.GoogleAuthRequest(HttpPolicy())
        return self._inner(url, method, **kwargs)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


class _NotFound:
    status = 404
    headers: dict[str, str] = {}
    data = b"{}"


def _default_credentials(scopes: list[str] = SCOPES) -> Any:
    """Application Default Credentials, or an error saying what was tried."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    quiet = logging.getLogger("google.auth._default")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "No project ID could be determined": not needed here
    try:
        request = _NoProjectLookup()
        try:
            # a google.auth.transport.Request in all but its base class (imported lazily)
            credentials, _project = google.auth.default(scopes=scopes, request=request)  # type: ignore[arg-type]
        finally:
            request.close()
        return credentials
    except DefaultCredentialsError:
        tried = (
            "GOOGLE_APPLICATION_CREDENTIALS (not set), "
            f"the gcloud application-default credentials file {_adc_file()} (absent), "
            "the metadata server of Cloud Run / GKE / Compute Engine (not reachable)"
        )
        raise ConfigError(
            f"no Google credentials found; tried: {tried}",
            hint="run gcloud auth application-default login, set "
            "GOOGLE_APPLICATION_CREDENTIALS (or --google-credentials) to a service-account "
            "key or external_account file, or run on Google Cloud with a service account; "
            "then share the sheet with that account",
        ) from None
    finally:
        quiet.setLevel(level)


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _is_loopback(url: str) -> bool:
    return is_loopback(urlsplit(url).hostname or "")
