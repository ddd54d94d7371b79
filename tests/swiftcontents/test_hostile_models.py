"""Notebook models the contents API must refuse with a 400 (not a 500) or read back."""
from __future__ import annotations

import json

import pytest

from swiftcontents import models


def notebook(**fields):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
    nb.update(fields)
    return nb


@pytest.mark.parametrize("fields, named", [
    ({"nbformat": -1}, "nbformat -1 is not a known version"),
    ({"nbformat": 5}, "nbformat 5 is not a known version"),
    ({"nbformat": 10**100}, "is not a known version"),
    ({"nbformat": True}, "'nbformat' must be an integer"),
    ({"nbformat_minor": "4"}, "'nbformat_minor' must be a non-negative integer, not a string"),
    ({"nbformat_minor": 4.0}, "'nbformat_minor' must be a non-negative integer, not float"),
    ({"nbformat_minor": None}, "'nbformat_minor' must be a non-negative integer"),
    ({"nbformat_minor": -2}, "'nbformat_minor' must be a non-negative integer"),
    ({"nbformat_minor": False}, "'nbformat_minor' must be a non-negative integer"),
])
def test_versions_nbformat_cannot_write_are_named(fields, named):
    assert named in models.notebook_shape_problem(notebook(**fields))


def test_known_versions_and_a_missing_minor_pass_the_shape_check():
    assert models.notebook_shape_problem(notebook()) is None
    nb = notebook()
    del nb["nbformat_minor"]
    assert models.notebook_shape_problem(nb) is None


@pytest.mark.parametrize("text", ['{"s": "\\ud800"}', '{"\\udfff": 1}', '{"s": "a\\uDBFFb"}'])
def test_lone_surrogates_are_refused_with_the_reason(text):
    with pytest.raises(ValueError, match="lone UTF-16 surrogate"):
        models.check_encodable(text, json.loads(text))


@pytest.mark.parametrize("text", ['{"s": "\\ud83d\\ude00"}', '{"s": "plain"}', '{"s": "\\\\ud800"}'])
def test_pairs_and_escaped_backslashes_are_text(text):
    models.check_encodable(text, json.loads(text))  # no error
