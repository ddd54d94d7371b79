"""Python storlets that run inside Swift, next to the notebooks.

Each storlet is one self-contained module (standard library plus the
dependencies that ``storlets-deploy`` uploads beside it); this package
``__init__`` is never uploaded.
"""
