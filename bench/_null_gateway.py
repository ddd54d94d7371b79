"""A *null* storlets gateway, for ``bench/engine_floor.py`` only: the floor of a call.

It is s2aio's gateway (``BwrapStorletGateway``: same request class, same
per-call construction, same name checks) whose invocation hands the object's
own bytes and metadata straight back: no sandbox, no SBus, no daemon, no task
process. A GET with ``X-Run-Storlet`` through it therefore pays only what
upstream's ``storlet_handler`` does per call in the proxy and the object
server (request building, header checks, the storlet object's HEAD, the
gateway's construction and call, the new response) on top of a plain GET, and
what s2aio's proxy filters add to it (``storlet_head_cache`` answers that HEAD
from memcache).

With the storlet parameter ``bench_output=pipe`` (object server only) the
bytes go out the way a storlet's output does: a green thread writes them into a
pipe with s2aio's ``PipeWriter``, and upstream's reader (the one the real
gateway's output goes through) streams the pipe's other end. That separates
the output's streaming from the rest of the engine (SBus, daemon, task).

It runs no storlet at all, so it must never serve users: it lives outside
every package, and it refuses to load unless the server's environment says
it is a benchmark (``NULL_GATEWAY_ENV``), which only ``engine_floor`` sets.
"""
from __future__ import annotations

import os
from typing import Iterator

NULL_GATEWAY_ENV = "S2AIO_BENCH_NULL_GATEWAY"  # engine_floor.NULL_GATEWAY_ENV sets it
CHUNK = 64 * 1024  # what upstream's output reader reads per chunk
# Added to the object's metadata (X-Object-Meta-Bench-Null-Gateway in the answer):
# the benchmark checks that its calls really went through this gateway.
MARK = "Bench-Null-Gateway"
MARK_HEADER = "X-Object-Meta-" + MARK  # = engine_floor.MARK_HEADER
OUTPUT_PARAM = "bench_output"  # "pipe": through a pipe, as a storlet's output

if os.environ.get(NULL_GATEWAY_ENV) != "1":
    raise ImportError(f"_null_gateway is a benchmark's stand-in that runs no storlet; it "
                      f"loads only with {NULL_GATEWAY_ENV}=1 (bench/engine_floor.py)")

from storlets.gateway.common.stob import StorletData, StorletResponse  # noqa: E402

from s2aio.gateway import BwrapStorletGateway, PipeWriter, refuse_unsafe_names  # noqa: E402


def read_fd(fd: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """The whole file behind ``fd`` from its start, then ``fd`` closed (also when the
    client goes away and the response is closed early). Positioned reads: the
    object server's own reader shares the file offset."""
    try:
        offset = 0
        while True:
            data = os.pread(fd, chunk, offset)
            if not data:
                return
            offset += len(data)
            yield data
    finally:
        os.close(fd)


def pipe_from(fd: int) -> int:
    """The read end of a pipe that a green thread fills with the file behind ``fd``
    (then closes both); a reader that stops early ends the copy."""
    import eventlet

    read_end, write_end = os.pipe()

    def fill() -> None:
        chunks = read_fd(fd)
        try:
            writer = PipeWriter(write_end)
            for chunk in chunks:
                writer.write(chunk)
        except BrokenPipeError:
            pass  # the reader went away
        finally:
            chunks.close()
            os.close(write_end)

    eventlet.spawn_n(fill)
    return read_end


class NullStorletGateway(BwrapStorletGateway):
    """``invocation_flow`` answers with the input, as an identity storlet would."""

    def invocation_flow(self, sreq, extra_resources=None):
        from swift.common.swob import HTTPBadRequest

        refuse_unsafe_names(sreq)  # as the real gateway, before anything else
        if sreq.has_range or sreq.extra_data_list:
            raise HTTPBadRequest(body=b"the benchmark's null gateway serves whole "
                                      b"single objects only")
        data = sreq.data
        metadata = {**data.user_metadata, MARK: "1"}
        if sreq.params.get(OUTPUT_PARAM) == "pipe":
            if not data.has_fd:
                raise HTTPBadRequest(body=b"bench_output=pipe runs on the object server only")
            # upstream's reader of a storlet's output: StorletData's data_iter
            return StorletResponse(StorletData(metadata, data_fd=pipe_from(os.dup(data.data_fd))))
        if data.has_fd:  # on the object server: the object file's own descriptor
            body = read_fd(os.dup(data.data_fd))
        else:  # on the proxy: the object's response body
            body = data.data_iter
        return StorletResponse(StorletData(metadata, data_iter=body))
