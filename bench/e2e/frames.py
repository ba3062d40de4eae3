"""Just enough RFC 6455 for the benchmark's peer and sink: handshake key, frame encode/decode.

Server frames go out unmasked and whole (FIN set, never fragmented); client frames are masked.
:class:`FrameReader` parses either kind incrementally, so a peer can read its client's few
frames and a sink can walk a stream of hundreds of thousands without copying it twice.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1(key.strip().encode("ascii") + GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def _header(opcode: int, length: int, masked: bool) -> bytes:
    first = 0x80 | opcode
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return struct.pack("!BB", first, mask_bit | length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, mask_bit | 126, length)
    return struct.pack("!BBQ", first, mask_bit | 127, length)


def server_frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One unmasked frame, as a server sends it."""
    return _header(opcode, len(payload), False) + payload


def server_text(text: str) -> bytes:
    """One unmasked text frame."""
    return server_frame(text.encode("utf-8"))


def client_frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One masked frame, as a client must send it."""
    mask = os.urandom(4)
    return _header(opcode, len(payload), True) + mask + _xor(payload, mask)


def _xor(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


class FrameReader:
    """Incremental frame parser: :meth:`feed` bytes, get back ``(opcode, payload)`` pairs.

    Continuation frames are not reassembled (neither side of the benchmark fragments).
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """The complete frames now in the buffer."""
        frames: list[tuple[int, bytes]] = []
        buf = self._buf
        buf += data
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            masked = b1 & 0x80
            mask = b""
            if masked:
                if end - pos < head + 4:
                    break
                mask = bytes(buf[pos + head : pos + head + 4])
                head += 4
            if end - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            frames.append((b0 & 0x0F, _xor(payload, mask) if masked else payload))
        del buf[:pos]
        return frames
