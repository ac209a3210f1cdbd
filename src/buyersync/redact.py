"""Redaction: the one place that knows every way a secret is spelled.

Logs (a filter on the CLI's handler), command messages, alert texts (console,
e-mail, webhook), the API's error bodies and the page all pass through
:func:`redact`. It replaces

* the secret values in force (registered by :func:`register` when settings load,
  or passed in),
* the password of any ``scheme://user:password@`` in the text — up to the *last*
  ``@`` of the word, so a password with an unencoded ``@`` is hidden whole,
* libpq secret parameters and token-like parameters in query strings and
  keyword/value connection strings (``password=``, ``sslpassword=``, ``passfile=``,
  ``sslkey=``, ``token=``, ``access_token=`` ...),
* secret fields of JSON or Python reprs (``"private_key": "..."``,
  ``"client_secret": ...``), PEM private-key blocks and ``Bearer`` credentials.

A database URL that cannot be parsed is never shown, not even in part:
:func:`url_problem` says what is wrong with it and how to percent-encode it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

MASK = "***"

#: Query/conninfo parameters whose value is a secret or a path to one.
SECRET_PARAMS = frozenset(
    {
        "password",
        "sslpassword",
        "passfile",
        "sslkey",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "api_key",
        "apikey",
        "secret",
        "sig",
        "signature",
    }
)
#: Fields of service-account JSON and token responses that are secrets.
SECRET_FIELDS = frozenset(
    {
        "private_key",
        "private_key_id",
        "client_secret",
        "refresh_token",
        "access_token",
        "id_token",
        "password",
        "token",
        "api_token",
        "smtp_password",
    }
)
#: Values shorter than this are not replaced literally (they would shred the text);
#: the patterns still hide them where they are spelled as secrets.
MIN_LITERAL = 3

_PARAMS = "|".join(sorted(SECRET_PARAMS, key=len, reverse=True))
_FIELDS = "|".join(sorted(SECRET_FIELDS, key=len, reverse=True))
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@?#]*):(?P<pw>\S*)@")
_QUERY = re.compile(
    rf"(?P<head>(?<![\w-])(?:{_PARAMS})\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^&\s'\"]+)",
    re.IGNORECASE,
)
_FIELD = re.compile(
    rf"(?P<head>(?P<q>[\"'])(?:{_FIELDS})(?P=q)\s*:\s*)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"?|'(?:[^'\\]|\\.)*'?)",
    re.IGNORECASE,
)
_PEM = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
)
_BEARER = re.compile(r"(?P<head>\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)

_lock = threading.Lock()
_registered: set[str] = set()


def register(values: Iterable[str | None]) -> None:
    """Remember secret values for every later :func:`redact` in this process."""
    with _lock:
        _registered.update(v for v in values if v and len(v) >= MIN_LITERAL)


def registered() -> list[str]:
    with _lock:
        return list(_registered)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret replaced by ``***`` (see the module docstring)."""
    if not text:
        return text
    values = {s for s in (*secrets, *registered()) if s and len(s) >= MIN_LITERAL}
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
        encoded = quote(value, safe="")
        if encoded != value:
            text = text.replace(encoded, MASK)
    text = _PEM.sub("[private key hidden]", text)
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m['head']}{MASK}", text)
    text = _FIELD.sub(lambda m: f"{m['head']}{m['value'][:1]}{MASK}{m['value'][:1]}", text)
    return _BEARER.sub(lambda m: f"{m['head']}{MASK}", text)


def url_problem(url: str) -> str | None:
    """Why ``url`` (a database or webhook URL) cannot be read unambiguously, or None.

    The answer never contains any part of the URL.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a non-numeric port
    except ValueError:
        return (
            "it cannot be parsed; if the user name or password contains @ : / ? # or %, "
            "percent-encode them (@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25)"
        )
    if parts.netloc and "@" in parts.path + parts.query + parts.fragment:
        return (
            "it has an @ after the host; if the password contains @ : / ? # or %, "
            "percent-encode them (@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25)"
        )
    return None


def redact_url(url: str) -> str:
    """``url`` safe to print: password and secret query parameters as ``***``.

    A URL that cannot be parsed unambiguously is shown as ``<unreadable URL>``.
    """
    if url_problem(url) is not None:
        return "<unreadable URL>"
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:{MASK}@{netloc.rsplit('@', 1)[-1]}"
    query = _QUERY.sub(lambda m: f"{m['head']}{MASK}", parts.query)
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing to hide: shown exactly as given
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def database_label(url: str) -> dict[str, str | None]:
    """The database a URL names, as safe to show anywhere: host and database name
    only (no user, password, port, query string); for SQLite the file name.

    ``{"kind", "host", "database", "label"}``; a URL that cannot be read is
    ``<unreadable URL>``.
    """
    if not url.strip():
        return {"kind": None, "host": None, "database": None, "label": "no database configured"}
    if "://" not in url and "=" in url:  # a libpq keyword/value string
        words = dict(w.split("=", 1) for w in url.split() if "=" in w and not w.startswith("="))
        host, name = words.get("host") or "localhost", words.get("dbname") or None
        label = f"{host}/{name}" if name else host
        return {"kind": "postgresql", "host": host, "database": name, "label": label}
    if url_problem(url) is not None:
        return {"kind": None, "host": None, "database": None, "label": "<unreadable URL>"}
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0].lower()
    if scheme == "sqlite":
        name = unquote(parts.path).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        name = name or ":memory:"
        return {"kind": "sqlite", "host": None, "database": name, "label": f"SQLite {name}"}
    host = parts.hostname or "localhost"
    database = unquote(parts.path.lstrip("/")) or None
    label = f"{host}/{database}" if database else host
    return {"kind": scheme or None, "host": host, "database": database, "label": label}


def url_secrets(url: str) -> list[str]:
    """The secret parts of ``url``: its password and secret query values.

    For a URL that cannot be parsed, everything between ``//`` and the last ``@``
    (the user and password as the operator meant them) and the whole URL.
    """
    if url_problem(url) is not None:
        rest = url.split("://", 1)[-1].split("?", 1)[0]
        userinfo = rest.rsplit("@", 1)[0] if "@" in rest else ""
        password = userinfo.split(":", 1)[1] if ":" in userinfo else ""
        return [s for s in (password, userinfo, url) if s]
    parts = urlsplit(url)
    found = [parts.password, unquote(parts.password)] if parts.password else []
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if name.lower() in SECRET_PARAMS and value:
            found.append(value)
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Compatibility name of :func:`redact`."""
    return redact(text, secrets)
