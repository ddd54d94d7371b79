"""Fixtures for the storlets_apps tests: the notebook corpus (fetched once, cached)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from . import corpus


@pytest.fixture(scope="session")
def corpus_paths() -> list[Path]:
    try:
        return corpus.fetch()
    except corpus.CorpusError as exc:  # fail, never skip
        pytest.fail(f"corpus unavailable: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def corpus_bytes(corpus_paths) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in corpus_paths}


@pytest.fixture(scope="session")
def v4_corpus(corpus_bytes) -> dict[str, bytes]:
    """Corpus notebooks that nbformat 4 readers accept (for diffs)."""
    return {k: v for k, v in corpus_bytes.items() if corpus.reads_v4(v) is not None}


def huge_output_notebook(size: int = 200 << 20, chunk: int = 1 << 20):
    """A notebook with one ``size``-byte stream output, as an iterator of chunks."""
    head = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"id": "big", "cell_type": "code", "metadata": {}, "source": "x", "execution_count": 1,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "@"}]}]})
    before, after = head.split("@")
    yield before.encode()
    for _ in range(size // chunk):
        yield b"x" * chunk
    yield after.encode()
