"""Request bodies: two size limits (bytes on the wire, bytes after decompression) and a
streamed, bounded decompression, so a decompression bomb costs at most the limit.

The limits come from ``Settings.max_wire_bytes`` and ``Settings.max_body_bytes``. A body
over either is refused with 413 and ``{"status": "too_large", "limit": N, "which":
"wire"|"decompressed"}`` beside the usual ``error`` object; the connection is closed, so
the rest of an oversize upload is never read or inflated.

Two ways the bytes can arrive, both handled here:
* the server hands over the raw body (``auto_decompress=False``): this module inflates it
  itself, ``max_length`` at a time;
* aiohttp inflates it (its default): the stream then counts the compressed bytes
  (``total_compressed_bytes``) and this module counts what comes out.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from aiohttp import web

from cmdb.server.api.errors import ApiError

# Content-Encoding token -> zlib wbits (47: gzip or zlib header, auto-detected; the
# deflate encoding is zlib-wrapped by RFC 9110, but some clients send it raw, see _inflater)
SUPPORTED_ENCODINGS = {"identity": 0, "gzip": 31, "x-gzip": 31, "deflate": 15}
READ_CHUNK = 64 * 1024
INFLATE_STEP = 256 * 1024  # most bytes one inflate call may produce (bounded memory)


@dataclass(frozen=True)
class BodyLimits:
    wire: int  # bytes as sent (compressed)
    decompressed: int  # bytes after Content-Encoding is undone


def too_large(limit: int, which: str) -> ApiError:
    """413 naming the limit that was passed (``which`` is ``wire`` or ``decompressed``)."""
    if which == "wire":
        what = f"the request body is larger than the server's limit of {limit} bytes as sent"
    else:
        what = (
            f"the request body is larger than the server's limit of {limit} bytes "
            "after decompression"
        )
    return ApiError(
        413,
        f"{what}; send a smaller report (the agent leaves out or aggregates its largest "
        "section and marks it partial)",
        top={"status": "too_large", "limit": limit, "which": which},
        limit=limit,
        which=which,
        close=True,
    )


def content_encoding(request: web.Request) -> str:
    """The one supported Content-Encoding of the body (``identity`` when none); 415 else."""
    raw = request.headers.get("Content-Encoding", "").strip().lower()
    if not raw:
        return "identity"
    if raw not in SUPPORTED_ENCODINGS:
        supported = ", ".join(e for e in SUPPORTED_ENCODINGS if e != "x-gzip")
        raise ApiError(
            415,
            f"Content-Encoding {raw!r} is not supported; send the body as {supported} "
            "(one encoding, not a list)",
            top={"status": "unsupported_encoding"},
            supported=sorted(SUPPORTED_ENCODINGS),
            close=True,
        )
    return raw


def _not_encoded(encoding: str, head: bytes) -> ApiError:
    hint = ""
    if head.lstrip()[:1] in (b"{", b"["):
        hint = " (it looks like plain JSON: drop the header or compress the body)"
    return ApiError(
        400,
        f"the body is marked Content-Encoding: {encoding} but is not {encoding} data{hint}",
        top={"status": "bad_encoding"},
        close=True,
    )


class _Inflater:
    """Undoes one Content-Encoding step by step; gzip may hold several members (RFC 1952)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.wbits = SUPPORTED_ENCODINGS[encoding]
        self._z = zlib.decompressobj(self.wbits)
        self._started = False
        self.head = b""

    def feed(self, data: bytes, room: int) -> list[bytes]:
        """Inflate ``data``; stop (returning what came out) once more than ``room`` bytes
        came out, so a bomb never gets inflated past the limit."""
        if not self._started and data:
            self.head = data[:16]
            if self.encoding == "deflate" and data[0] & 0x0F != 8:
                # raw deflate without the zlib header: common enough to accept
                self._z = zlib.decompressobj(-15)
            self._started = True
        out: list[bytes] = []
        produced = 0
        while produced <= room:
            try:
                piece = self._z.decompress(data, INFLATE_STEP)
            except zlib.error as exc:
                raise _not_encoded(self.encoding, self.head) from exc
            out.append(piece)
            produced += len(piece)
            if self._z.eof:
                data = self._z.unused_data
                if not data.strip(b"\0"):  # the end, or padding after it
                    break
                self._z = zlib.decompressobj(self.wbits)  # another gzip member follows
                continue
            data = self._z.unconsumed_tail
            # all input taken and the output not cut short: nothing is pending in zlib
            if not data and len(piece) < INFLATE_STEP:
                break
        return out

    def finish(self) -> None:
        if self._started and not self._z.eof:
            raise _not_encoded(self.encoding, self.head)


async def read_body(request: web.Request, limits: BodyLimits) -> bytes:
    """The request body with its Content-Encoding undone, or an ApiError: 413 past a
    limit (checked as the bytes arrive), 415 for an unknown encoding, 400 for a body
    that is not what its encoding says."""
    encoding = content_encoding(request)
    declared = request.content_length
    if declared is not None and declared > limits.wire:
        raise too_large(limits.wire, "wire")
    stream = request.content
    # aiohttp inflates by itself unless the app turned auto_decompress off
    inflated_upstream = getattr(stream, "total_compressed_bytes", None) is not None
    inflater = _Inflater(encoding) if encoding != "identity" and not inflated_upstream else None
    parts: list[bytes] = []
    wire = size = 0
    try:
        while True:
            chunk = await stream.read(READ_CHUNK)
            if not chunk:
                break
            wire = stream.total_compressed_bytes if inflated_upstream else wire + len(chunk)
            if wire > limits.wire:
                raise too_large(limits.wire, "wire")
            pieces = inflater.feed(chunk, limits.decompressed - size) if inflater else [chunk]
            for piece in pieces:
                size += len(piece)
                if size > limits.decompressed:
                    raise too_large(limits.decompressed, "decompressed")
                parts.append(piece)
    except web.RequestPayloadError as exc:  # aiohttp could not inflate it
        raise _not_encoded(encoding, b"") from exc
    if inflater:
        inflater.finish()
    return b"".join(parts)


def limits_of(settings) -> BodyLimits:
    """The body limits a server's settings give (see cmdb.server.config.Settings)."""
    return BodyLimits(wire=settings.max_wire_bytes, decompressed=settings.max_body_bytes)
