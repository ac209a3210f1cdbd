"""The outbound HTTP policy in-process: JSON bounds, the total deadline, byte caps."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from buyersync import outbound
from buyersync.outbound import HttpPolicy, LimitExceeded, parse_json

POLICY = HttpPolicy(deadline_seconds=1.0, max_json_depth=3, max_json_values=10)


def test_depth_at_the_limit_passes_and_one_deeper_is_refused() -> None:
    assert parse_json(b'{"a": [[1]]}', POLICY, "x") == {"a": [[1]]}
    with pytest.raises(LimitExceeded) as info:
        parse_json(b'{"a": [[[1]]]}', POLICY, "the answer")
    assert info.value.setting == "http_max_json_depth" and not info.value.retryable
    assert "the answer is nested deeper than 3 levels" in str(info.value)


def test_brackets_and_escaped_quotes_inside_strings_are_not_structure() -> None:
    body = b'{"a": "[[[[{{{{ \\" ]]]] [[[["}'
    assert parse_json(body, POLICY, "x") == {"a": '[[[[{{{{ " ]]]] [[[['}


def test_too_many_values_are_refused_before_parsing() -> None:
    assert parse_json(b"[1,2,3,4,5,6,7,8,9]", POLICY, "x") == list(range(1, 10))
    with pytest.raises(LimitExceeded, match="more than 10 JSON values"):
        parse_json(b"[[],[],[],[],[],[],[],[],[],[],[]]", POLICY, "x")


def test_100_000_levels_never_raise_recursion_error() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(LimitExceeded):
        parse_json(body, HttpPolicy(), "x")


def test_a_bytearray_body_is_consumed_once_decoded() -> None:
    body = bytearray(b'{"values": []}')
    assert parse_json(body, POLICY, "x") == {"values": []}
    assert body == b""


def test_not_json_is_a_value_error_for_the_caller() -> None:
    with pytest.raises(ValueError):
        parse_json(b'{"values": [', POLICY, "x")
    with pytest.raises(ValueError):
        parse_json(b"\xff\xfe", POLICY, "x")


@pytest.fixture
def peer() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    behaviours: list[Callable[[socket.socket], None]] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            try:
                behaviours[0](conn)
            except OSError:
                pass
            finally:
                conn.close()

    def start(behaviour: Callable[[socket.socket], None]) -> str:
        behaviours.append(behaviour)
        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}/"

    yield start
    listener.close()


def _get(url: str, policy: HttpPolicy = POLICY) -> outbound.Answer:
    with outbound.client(policy) as http:
        return outbound.fetch(http, http.build_request("GET", url), policy, "the answer")


def test_a_dripping_peer_is_cut_at_the_total_deadline_and_not_retryable(peer) -> None:  # type: ignore[no-untyped-def]
    def drip(sock: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX: " + b"y" * 100:
            sock.sendall(bytes([byte]))
            time.sleep(0.05)

    url = peer(drip)
    with outbound.client(POLICY) as http, pytest.raises(LimitExceeded) as info:
        start = time.monotonic()
        try:
            outbound.fetch(http, http.build_request("GET", url), POLICY, "the answer")
        finally:
            took = time.monotonic() - start
    assert took < 1.5, f"{took:.2f} s against a 1 s deadline"
    assert info.value.setting == "sheets_timeout_seconds" and not info.value.retryable


def test_a_silent_peer_is_retryable(peer) -> None:  # type: ignore[no-untyped-def]
    url = peer(lambda sock: time.sleep(3))
    with pytest.raises(LimitExceeded) as info:
        _get(url)
    assert info.value.retryable  # nothing came: another try may be answered


def test_an_error_body_is_read_only_to_its_first_kilobytes(peer) -> None:  # type: ignore[no-untyped-def]
    def big_error(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 100000000\r\n\r\n")
        for _ in range(1000):
            sock.sendall(b"e" * 100_000)

    answer = _get(peer(big_error))
    assert answer.status == 500 and len(answer.body) == outbound.ERROR_BODY_BYTES


def test_a_gzip_bomb_is_capped_after_decoding(peer) -> None:  # type: ignore[no-untyped-def]
    import gzip

    packed = gzip.compress(b"[" + b"0," * 5_000_000 + b"0]")  # 10 MB, about 10 KB packed

    def bomb(sock: socket.socket) -> None:
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
            + f"Content-Length: {len(packed)}\r\n\r\n".encode()
            + packed
        )

    with pytest.raises(LimitExceeded, match="sent more than 1,000,000 bytes"):
        _get(peer(bomb), HttpPolicy(deadline_seconds=5, max_body_bytes=1_000_000))
