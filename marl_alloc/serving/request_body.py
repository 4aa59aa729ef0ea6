"""Request bodies read up to a limit (serve.max_body_bytes).

A body that declares a larger Content-Length is refused before any of it is read; one that
streams past the limit (chunked) is refused as soon as it does. The refusal (413) closes the
connection, which ends the read: under direct ingress Ray Serve keeps receiving a body in the
background until the connection ends, whatever the handler does with it.
"""

from starlette.requests import Request


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None when it is longer than `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
