"""An endpoint's answer read within bounds: the request's time budget and a size no laas call
needs. A socket timeout bounds each read, not their sum, so an endpoint trickling its headers
or its answer a byte at a time, or sending an answer without end, would otherwise hold the
caller (the gate, a run) for ever or fill its memory."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator

MAX_ANSWER = 256 << 20  # bytes of one JSON-RPC answer: far above any a laas call gets


class AnswerTooLarge(Exception):
    """The endpoint sent more than MAX_ANSWER bytes (the message is safe to show)."""


@contextlib.contextmanager
def cut_at(conn: http.client.HTTPConnection, deadline: float) -> Iterator[None]:
    """Within the block, the connection's socket is shut at `deadline` (time.monotonic()),
    so no read in it outlives the budget; the block then raises TimeoutError."""
    fired = threading.Event()

    def cut() -> None:
        fired.set()
        if (sock := conn.sock) is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    except Exception:
        if fired.is_set():
            raise TimeoutError from None
        raise
    finally:
        timer.cancel()
    if fired.is_set():  # a shut socket reads as the answer's end: what came is not all
        raise TimeoutError


def read_answer(resp: http.client.HTTPResponse, deadline: float) -> bytes:
    """The answer's body, read by pieces until `deadline`, else TimeoutError; AnswerTooLarge
    past MAX_ANSWER bytes."""
    parts, size = [], 0
    # read(n), not read1: it hands the connection back for keep-alive at the answer's end
    while part := resp.read(1 << 20):
        if time.monotonic() > deadline:
            raise TimeoutError
        size += len(part)
        if size > MAX_ANSWER:
            raise AnswerTooLarge(f"answered more than {MAX_ANSWER >> 20} MB")
        parts.append(part)
    return b"".join(parts)
