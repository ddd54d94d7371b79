"""Identity storlet: streams its input to its output unchanged.

The baseline for measuring what the storlets engine itself costs: every other
storlet pays at least this. Metadata is copied from the input; when invoked
with extra resources, their bytes follow the main input in order.

Parameters: ``chunk_size`` (bytes per read, default 1 MiB).
"""

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
        # The engine requires metadata once, before the first write.
        out.set_metadata(dict(in_files[0].get_metadata()))
        try:
            for source in in_files:
                while True:
                    data = source.read(chunk)
                    if not data:
                        break
                    out.write(data)
        finally:
            for source in in_files:
                source.close()
            out.close()
