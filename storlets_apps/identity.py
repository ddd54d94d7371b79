"""Identity storlet: streams its input to its output unchanged.

The baseline for measuring what the storlets engine itself costs: every other
storlet pays at least this. Metadata is copied from the input; when invoked
with extra resources, their bytes follow the main input in order.

Parameters: ``chunk_size`` (bytes per read, default 1 MiB).

If the output fails (the client went away), what is left of the inputs is
drained with ``_nbcommon.close_inputs``, so that the engine's input writers
finish. Uploaded alone, without that dependency (benchmarks measure the bare
engine so), it only closes them.
"""

try:
    import _nbcommon
except ImportError:
    try:  # imported from the repository (local harness, tests)
        from storlets_apps import _nbcommon
    except ImportError:  # uploaded without its dependency
        _nbcommon = None

STORLET_DEPENDENCIES = {"_nbcommon.py": "repo:_nbcommon.py"}

DEFAULT_CHUNK = 1 << 20


class IdentityStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out = out_files[0]
        try:
            chunk = int(params.get("chunk_size", DEFAULT_CHUNK))
        except ValueError:
            chunk = DEFAULT_CHUNK
        chunk = min(max(chunk, 1), 16 << 20)
        try:
            # The engine requires metadata once, before the first write.
            out.set_metadata(dict(in_files[0].get_metadata()))
            for source in in_files:
                while True:
                    data = source.read(chunk)
                    if not data:
                        break
                    out.write(data)
        finally:
            try:
                if _nbcommon is not None:
                    _nbcommon.close_inputs(in_files, _nbcommon.Budget())
            finally:
                for source in in_files:
                    if not source.closed:
                        source.close()
                out.close()
