"""Hostile peers on 127.0.0.1 against the real CLI: the outbound HTTP policy holds.

Each server here misbehaves in one way a real peer (or something posing as one)
could: a 1.2 GB error body, a 2 GB Content-Length, a body with no length that never
ends, bytes dripped one at a time (in the body and in the headers), JSON nested
100,000 deep, metadata with a wrongly typed field, and an SMTP server that drips
its greeting. ``buyersync sync`` (a Google Sheets source) and ``buyersync health``
(a webhook, e-mail) run as subprocesses; their peak RSS is measured from outside
(``ru_maxrss`` of the finished child, in a fresh parent) and their wall time
against the deadline in force.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import opened

pytestmark = pytest.mark.reliability

#: Peak RSS allowed for the CLI against any hostile peer.
RSS_LIMIT_KB = 300 * 1024
#: Interpreter start-up, migrations and shutdown on a loaded machine, on top of a deadline.
MARGIN = 8.0
GB = 1024**3

METADATA = {
    "sheets": [
        {
            "properties": {
                "sheetId": 0,
                "title": "Buyers",
                "gridProperties": {"rowCount": 10, "columnCount": 2},
            }
        }
    ]
}
VALUES = {"range": "Buyers!A1:B10", "values": [["buyer_number", "name"], ["B1", "Ann"]]}

Handler = Callable[[socket.socket, str], None]


class HostilePeer:
    """A TCP server on 127.0.0.1 that reads one request head and hands the socket and
    the request path to ``handle`` (which writes whatever it likes)."""

    def __init__(self, handle: Handler) -> None:
        outer = self

        class _Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                head = b""
                while b"\r\n\r\n" not in head and b"\n\n" not in head:
                    data = sock.recv(65536)
                    if not data:
                        return
                    head += data
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                path = line.split(" ")[1] if " " in line else "/"
                outer.paths.append(path)
                try:
                    handle(sock, path)
                except OSError:
                    pass  # the client hung up: what a limit is for

        self.paths: list[str] = []
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HostilePeer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _send_json(sock: socket.socket, body: object, status: str = "200 OK") -> None:
    data = json.dumps(body).encode()
    sock.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )


def _stream(sock: socket.socket, total: int, chunk: bytes) -> None:
    """``total`` bytes of ``chunk`` repeated, written lazily (never held whole)."""
    sent = 0
    while sent < total:
        piece = chunk[: total - sent]
        sock.sendall(piece)
        sent += len(piece)


def sheets(values: Handler, metadata: Handler | None = None) -> Handler:
    """A Sheets endpoint: good metadata (unless ``metadata``), ``values`` for pages."""

    def handle(sock: socket.socket, path: str) -> None:
        if "/values/" in path:
            values(sock, path)
        elif metadata is not None:
            metadata(sock, path)
        else:
            _send_json(sock, METADATA)

    return handle


def run_measured(
    *args: str, timeout: float = 120
) -> tuple[int, float, subprocess.CompletedProcess[str]]:
    """``buyersync ARGS`` in a fresh parent: (peak RSS of the CLI in KB, seconds, result)."""
    script = (
        "import resource, subprocess, sys, time\n"
        "t = time.monotonic()\n"
        "p = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]))\n"
        "took = time.monotonic() - t\n"
        "sys.stderr.write(p.stderr)\n"
        "sys.stdout.write(p.stdout)\n"
        "print()\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, took)\n"
        "sys.exit(p.returncode)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(timeout), sys.executable, "-m", "buyersync", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout + 30,
    )
    peak, took = proc.stdout.strip().splitlines()[-1].split()
    return int(peak), float(took), proc


def sync(
    peer: HostilePeer, db: str, *extra: str
) -> tuple[int, float, subprocess.CompletedProcess[str]]:
    return run_measured(
        "sync", "--source", "gsheets:hostile", "--sheets-api-url", peer.url, "--db", db, *extra
    )


def last_line(out: subprocess.CompletedProcess[str]) -> str:
    return out.stderr.strip().splitlines()[-1]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'buyers.db'}"


def assert_nothing_written(url: str) -> None:
    with opened(url) as db:
        assert not db.table_exists("buyers") or db.query_value("SELECT count(*) FROM buyers") == 0


# ---------------------------------------------------------------- Google Sheets


def test_a_1_2_gb_error_body_is_read_only_a_few_kb(sqlite_url: str) -> None:
    def values(sock: socket.socket, _path: str) -> None:
        size = int(1.2 * GB)
        sock.sendall(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
        )
        _stream(sock, size, b'{"error": {"message": "' + b"x" * 65536)

    with HostilePeer(sheets(values)) as peer:
        peak, took, out = sync(peer, sqlite_url)
    assert out.returncode == 3, out.stderr
    assert "was refused (HTTP 400)" in last_line(out)
    assert "Traceback" not in out.stderr
    assert peak < RSS_LIMIT_KB, f"peak RSS {peak // 1024} MB"
    assert took < 30 + MARGIN
    assert_nothing_written(sqlite_url)


def test_a_2_gb_content_length_is_refused_before_reading(sqlite_url: str) -> None:
    def values(sock: socket.socket, _path: str) -> None:
        size = 2 * GB
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
        )
        _stream(sock, size, b'{"values": [' + b'["B1", "x"],' * 6000)

    with HostilePeer(sheets(values)) as peer:
        peak, took, out = sync(peer, sqlite_url)
    assert out.returncode == 3, out.stderr
    line = last_line(out)
    assert "announced 2,147,483,648 bytes, over the 67,108,864-byte limit" in line
    assert "http_max_response_bytes" in line and "nothing of it was read" in line
    assert peak < RSS_LIMIT_KB, f"peak RSS {peak // 1024} MB"
    assert took < 30 + MARGIN
    assert_nothing_written(sqlite_url)


def test_a_body_without_length_that_never_ends_stops_at_the_cap(sqlite_url: str) -> None:
    def values(sock: socket.socket, _path: str) -> None:
        sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
        _stream(sock, int(1.2 * GB), b'{"values": [' + b'["B1", "x"],' * 6000)

    with HostilePeer(sheets(values)) as peer:
        peak, took, out = sync(peer, sqlite_url)
    assert out.returncode == 3, out.stderr
    assert "sent more than 67,108,864 bytes (the http_max_response_bytes limit)" in last_line(out)
    assert peak < RSS_LIMIT_KB, f"peak RSS {peak // 1024} MB"
    assert took < 30 + MARGIN
    assert_nothing_written(sqlite_url)


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_dripping_server_cannot_keep_the_sync_past_its_deadline(
    sqlite_url: str, where: str
) -> None:
    """One byte every 0.2 s: no socket read ever waits long, so only a total deadline
    ends it. The sync stops at --sheets-timeout (not retried: the peer was answering)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"p" * 400

    def values(sock: socket.socket, _path: str) -> None:
        if where == "body":
            sock.sendall(head + b"\r\nContent-Length: 100000\r\n\r\n")
            drip = b'{"values": [' + b" " * 99_000
        else:
            drip = head + b"\r\n\r\n"
        for byte in drip:
            sock.sendall(bytes([byte]))
            time.sleep(0.2)

    with HostilePeer(sheets(values)) as peer:
        peak, took, out = sync(peer, sqlite_url, "--sheets-timeout", "4")
        asked = sum("/values/" in p for p in peer.paths)
    assert out.returncode == 3, out.stderr
    line = last_line(out)
    assert "took longer than 4 s in total (the sheets_timeout_seconds limit)" in line, line
    assert "--sheets-timeout" in line
    assert asked == 1  # a peer that answers too slowly is not asked again
    assert took < 4 + MARGIN, f"{took:.1f} s"
    assert peak < RSS_LIMIT_KB
    assert_nothing_written(sqlite_url)


def test_deeply_nested_json_is_a_clear_error_not_a_recursion_error(url: str) -> None:
    """On SQLite and PostgreSQL: the run is recorded as failed, nothing is written."""

    def metadata(sock: socket.socket, _path: str) -> None:
        depth = 100_000
        body = b'{"sheets": ' + b"[" * depth + b"]" * depth + b"}"
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    with HostilePeer(sheets(lambda s, p: _send_json(s, VALUES), metadata)) as peer:
        peak, took, out = sync(peer, url)
    assert out.returncode == 3, out.stderr
    assert "RecursionError" not in out.stderr and "Traceback" not in out.stderr
    line = last_line(out)
    assert "is nested deeper than 32 levels (the http_max_json_depth limit)" in line
    assert "--http-max-json-depth" in line
    assert peak < RSS_LIMIT_KB
    assert took < 30 + MARGIN
    assert_nothing_written(url)
    with opened(url) as db:
        statuses = [r["status"] for r in db.query("SELECT status FROM sync_runs")]
    assert statuses and "succeeded" not in statuses


def test_millions_of_tiny_values_are_refused_before_parsing(sqlite_url: str) -> None:
    """60 MB of empty arrays is under the byte cap but would be 1.3 GB of lists."""

    def values(sock: socket.socket, _path: str) -> None:
        count = 20_000_000
        body_len = len(b'{"values": [') + 3 * count - 1 + len(b"]}")
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {body_len}\r\n\r\n".encode()
            + b'{"values": ['
        )
        _stream(sock, 3 * count - 1, b"[]," * 65536)
        sock.sendall(b"]}")

    with HostilePeer(sheets(values)) as peer:
        peak, took, out = sync(peer, sqlite_url)
    assert out.returncode == 3, out.stderr
    assert "more than 2,000,000 JSON values (the http_max_json_values limit)" in last_line(out)
    assert peak < RSS_LIMIT_KB, f"peak RSS {peak // 1024} MB"
    assert took < 30 + MARGIN


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("rowCount", "lots", "gridProperties.rowCount: 'lots', expected a whole number"),
        ("rowCount", -5, "gridProperties.rowCount: -5, expected a whole number from 0"),
        ("columnCount", 1.5, "gridProperties.columnCount: 1.5, expected a whole number"),
        ("rowCount", 10**12, "gridProperties.rowCount: 1000000000000, expected a whole"),
        ("title", ["x"], "title: a JSON array, expected a string"),
    ],
)
def test_bad_metadata_field_types_name_the_field(
    sqlite_url: str, field: str, value: object, shown: str
) -> None:
    meta = json.loads(json.dumps(METADATA))
    props = meta["sheets"][0]["properties"]
    if field in ("rowCount", "columnCount"):
        props["gridProperties"][field] = value
    else:
        props[field] = value

    with HostilePeer(
        sheets(lambda s, p: _send_json(s, VALUES), lambda s, p: _send_json(s, meta))
    ) as peer:
        _peak, _took, out = sync(peer, sqlite_url)
    assert out.returncode == 3, out.stderr
    line = last_line(out)
    assert f"Google Sheets metadata has a bad sheets[0].properties.{shown}" in line, line
    assert "ValueError" not in out.stderr and "Traceback" not in out.stderr


# ---------------------------------------------------------------- alert channels


def _health(
    sheet: Path, db: str, *extra: str
) -> tuple[int, float, subprocess.CompletedProcess[str]]:
    return run_measured("health", "--source", str(sheet), "--db", db, "--json", *extra)


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    path = tmp_path / "buyers.csv"
    path.write_text("buyer_number,name\nB1,Ann\n", encoding="utf-8")
    return path


def _webhook_result(out: subprocess.CompletedProcess[str]) -> dict[str, object]:
    report = json.loads(out.stdout.strip().rsplit("\n", 1)[0])
    return next(d for d in report["deliveries"] if d["channel"] == "webhook")


def test_a_dripping_webhook_cannot_hold_health_past_the_alert_timeout(
    sheet: Path, sqlite_url: str
) -> None:
    """The check completes (exit 1: a buyer is missing), the webhook counts as down."""

    def hook(sock: socket.socket, _path: str) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + b"X-Pad: " + b"p" * 1000:
            sock.sendall(bytes([byte]))
            time.sleep(0.2)

    with HostilePeer(hook) as peer:
        peak, took, out = _health(
            sheet, sqlite_url, "--webhook-url", f"{peer.url}/hook/T0KEN123456"
        )
    assert out.returncode == 1, out.stderr
    delivery = _webhook_result(out)
    assert delivery["ok"] is False
    assert "took longer than 10 s in total (the alert_timeout_seconds limit)" in str(
        delivery["error"]
    )
    assert "T0KEN123456" not in out.stderr + out.stdout
    assert took < 10 + MARGIN, f"{took:.1f} s"
    assert peak < RSS_LIMIT_KB


def test_a_webhook_answering_1_2_gb_is_read_only_a_few_kb(sheet: Path, sqlite_url: str) -> None:
    def hook(sock: socket.socket, _path: str) -> None:
        size = int(1.2 * GB)
        sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        _stream(sock, size, b"o" * 65536)

    with HostilePeer(hook) as peer:
        peak, took, out = _health(sheet, sqlite_url, "--webhook-url", f"{peer.url}/hook")
    assert out.returncode == 1, out.stderr
    assert _webhook_result(out)["ok"] is True  # delivered: the answer is not needed
    assert peak < RSS_LIMIT_KB, f"peak RSS {peak // 1024} MB"
    assert took < 10 + MARGIN


def test_a_dripping_smtp_server_cannot_hold_health_past_the_alert_timeout(
    sheet: Path, sqlite_url: str
) -> None:
    """smtplib's timeout is per operation: a greeting dripped a byte at a time never
    trips it. The whole conversation is bounded by --alert-timeout."""

    def greet(sock: socket.socket) -> None:
        try:
            for byte in b"220 " + b"s" * 2000 + b"\r\n":
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=greet, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        peak, took, out = _health(
            sheet,
            sqlite_url,
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(port),
            "--no-smtp-starttls",
            "--smtp-to",
            "ops@example.com",
            "--alert-timeout",
            "3",
        )
    finally:
        listener.close()
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout.strip().rsplit("\n", 1)[0])
    email = next(d for d in report["deliveries"] if d["channel"] == "email")
    assert email["ok"] is False
    assert "did not finish within 3 s in total (the alert_timeout_seconds limit)" in str(
        email["error"]
    )
    assert took < 3 + MARGIN, f"{took:.1f} s"
    assert peak < RSS_LIMIT_KB


def test_the_token_endpoint_is_under_the_same_deadline(tmp_path: Path, sqlite_url: str) -> None:
    """A token endpoint that drips its answer: the sync stops at --sheets-timeout
    naming the limit, instead of waiting on google-auth's own 120 s per read."""
    from buyersync.testing.sheets_server import write_authorized_user

    def token(sock: socket.socket, path: str) -> None:
        for byte in (
            b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"access_token": "' + b"a" * 480
        ):
            sock.sendall(bytes([byte]))
            time.sleep(0.2)

    with HostilePeer(token) as peer:
        creds = write_authorized_user(tmp_path / "user.json", f"{peer.url}/token")
        peak, took, out = sync(
            peer, sqlite_url, "--google-credentials", str(creds), "--sheets-timeout", "3"
        )
    assert out.returncode == 3, out.stderr
    line = last_line(out)
    assert "took longer than 3 s in total (the sheets_timeout_seconds limit)" in line, line
    assert took < 3 + MARGIN, f"{took:.1f} s"
    assert peak < RSS_LIMIT_KB


@pytest.fixture(autouse=True)
def _no_stray_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    yield
