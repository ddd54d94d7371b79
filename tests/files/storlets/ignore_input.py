"""Test storlet: answers without reading its inputs (a storlet that does not drain).

Used to check that the deploy warm-up cannot leave the engine's input writer
spinning whatever a storlet does with its input.
"""


class IgnoreInput(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out = out_files[0]
        out.set_metadata({})
        out.write(b"ignored")
        for f in in_files:
            f.close()
        out.close()
