"""The s2aio status probe: a tiny storlet that answers ``s2aio-probe-ok:`` + input."""


class ProbeStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        data = in_files[0].read()
        out_files[0].set_metadata({"S2aio-Probe": "ok"})
        out_files[0].write(b"s2aio-probe-ok:" + data)
        in_files[0].close()
        out_files[0].close()
