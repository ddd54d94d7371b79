"""nbdime's diff API on Swift: checkpoint bases answered by the nbdiff storlet.

JupyterLab's nbdime extension diffs a notebook against its checkpoint with
``POST {base_url}nbdime/api/diff`` and ``{"base": "checkpoint:<path>"}``. nbdime 4's
own handler (``ExtensionApiDiffHandler``) reads a checkpoint only through
``FileCheckpoints`` or ``GenericCheckpointsMixin`` (``SwiftCheckpoints`` is neither:
a 500), takes the *oldest* checkpoint, and diffs in the Jupyter server.

Here a checkpoint base is answered by the manager's ``checkpoint_diff`` (the nbdiff
storlet, or the server's fallback, which says why) against the *newest* checkpoint,
or the one named by ``checkpoint@<id>:<path>``. The answer keeps nbdime's shape
(``base``: the checkpoint as nbdime holds a notebook, ``diff``: base -> current)
plus ``computed_by`` (and ``fallback_reason``). Any other base, or a contents
manager that is not Swift's, goes to nbdime's handler unchanged.

How it is wired: :func:`install` wraps the ``post`` of nbdime's handler class when
the swiftcontents extension loads. A wrapper on the class, not a second route:
tornado answers with the first route that matches, in the order extensions added
them, while a class attribute holds whichever extension loads first.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import re
from typing import Any, Callable

from jupyter_core.utils import ensure_async
from tornado import web

from storlets_apps import _nbcommon

from . import paths
from .errors import SwiftContentsError
from .manager import SwiftContentsManager, swift_errors
from .models import NOTEBOOK_EXT

# Authorized as reading the notebook through the contents API.
AUTH_ACTION, AUTH_RESOURCE = "read", "contents"
NEWEST, CHOSEN = "checkpoint:", "checkpoint@"
# A path (Swift's 1,024-byte names) and an id fit well within this; a longer base is
# refused before anything looks at it.
MAX_BASE_CHARS = 2048
# A checkpoint id as jupyter_server's routes accept them ([\w-]+).
CHECKPOINT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
FORMS = "'checkpoint:<path>' or 'checkpoint@<checkpoint id>:<path>'"
_INSTALLED = "_swiftcontents_checkpoint_diff"


@dataclasses.dataclass(frozen=True)
class CheckpointBase:
    """A base naming a checkpoint of the notebook ``path`` ('' id: its newest)."""

    path: str
    checkpoint_id: str = ""


def _shown(value: str, limit: int = 80) -> str:
    """A hostile string quoted for a message, at most ``limit`` characters of it."""
    return repr(value[:limit]) + ("..." if len(value) > limit else "")


def is_checkpoint_base(base: Any) -> bool:
    return isinstance(base, str) and base.startswith((NEWEST, CHOSEN))


def parse_base(base: str) -> CheckpointBase:
    """A checkpoint base checked as the contents API checks paths (400 otherwise):
    no '..', '.', empty segments, absolute paths, NUL or other control characters,
    only notebooks, and nothing over ``MAX_BASE_CHARS``."""
    if len(base) > MAX_BASE_CHARS:
        raise SwiftContentsError(400, f"Invalid diff base: {len(base)} characters, at most "
                                      f"{MAX_BASE_CHARS}; use {FORMS}")
    head, sep, path = base.partition(":")
    if not sep:
        raise SwiftContentsError(400, f"Invalid diff base {_shown(base)}: use {FORMS}")
    checkpoint_id = head[len(CHOSEN):] if head.startswith(CHOSEN) else ""
    if head != NEWEST[:-1] and not CHECKPOINT_ID.match(checkpoint_id):
        raise SwiftContentsError(400, (
            f"Invalid checkpoint id {_shown(checkpoint_id)} in the diff base: letters, "
            "digits, '_' and '-' only, as GET /api/contents/<path>/checkpoints lists them"))
    if path.startswith(("/", "\\")):
        raise SwiftContentsError(400, f"Invalid path {_shown(path)} in the diff base: "
                                      "absolute paths are not allowed")
    path = paths.normalize(path)
    if not path.endswith(NOTEBOOK_EXT):
        raise SwiftContentsError(400, f"Invalid path {_shown(path)} in the diff base: only "
                                      f"notebooks ({NOTEBOOK_EXT}) have checkpoint diffs")
    return CheckpointBase(path, checkpoint_id)


def base_notebook(data: bytes) -> dict[str, Any]:
    """A checkpoint's bytes as the nbdiff storlet read them (nbformat's in-memory
    form): the base its diff applies to, whichever path computed it."""
    try:
        nb = _nbcommon.parse_notebook(data)
        _nbcommon.require_v4(nb)
    except _nbcommon.NotebookProblem as problem:
        raise SwiftContentsError(422, f"cannot diff: checkpoint: {problem.detail}") from None
    return _nbcommon.in_memory_form(nb)


def answer_shape(base_nb: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """nbdime's answer (``base``, ``diff``) and which path computed the diff."""
    answer = {"base": base_nb, "diff": result["body"], "computed_by": result["computed_by"],
              "path": result["path"], "checkpoint": result["checkpoint"]}
    if result["computed_by"] != "storlet":
        answer["fallback_reason"] = result.get("fallback_reason") or "not given"
    return answer


async def checkpoint_answer(cm: SwiftContentsManager, target: CheckpointBase) -> dict[str, Any]:
    """The diff from the checkpoint to the notebook, with the checkpoint it starts from."""
    result = await cm.checkpoint_diff(target.path, target.checkpoint_id, "nbdime")
    try:
        data = await cm.checkpoint_bytes(result["path"], result["checkpoint"])
    except web.HTTPError as exc:
        if exc.status_code != 404:
            raise
        raise web.HTTPError(404, (f"Checkpoint {result['checkpoint']} of {result['path']} "
                                  "was deleted meanwhile; diff again")) from None
    with swift_errors(cm.log):
        return answer_shape(base_notebook(data), result)


def requested_base(body: bytes) -> Any:
    """The ``base`` of a request body; None where the body is not a JSON object
    (nbdime's handler answers those as it always did)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return doc.get("base") if isinstance(doc, dict) else None


async def _authorize(handler: Any) -> None:
    """As the contents API: an authenticated user allowed to read contents."""
    user = handler.current_user
    if not user:
        raise web.HTTPError(403, "Authentication required: log in or send a token")
    allowed = await ensure_async(
        handler.authorizer.is_authorized(handler, user, AUTH_ACTION, AUTH_RESOURCE))
    if not allowed:
        raise web.HTTPError(403, f"User is not authorized to {AUTH_ACTION} on resource: "
                                 f"{AUTH_RESOURCE}.")


def _finish_error(handler: Any, exc: web.HTTPError) -> None:
    """The contents API's error shape (JSON ``message``), not nbdime's plain text."""
    log = handler.log.warning if exc.status_code < 500 else handler.log.error
    log("nbdime checkpoint diff: %s %s", exc.status_code, exc.log_message)
    handler.set_status(exc.status_code, reason=exc.reason)
    handler.set_header("Content-Type", "application/json")
    handler.finish(json.dumps({"message": exc.log_message or "", "reason": exc.reason}))


async def serve(handler: Any, delegate: Callable[[Any], Any]) -> None:
    """Answer a checkpoint base on Swift; hand anything else to ``delegate``."""
    base = requested_base(handler.request.body)
    cm = handler.contents_manager
    if not is_checkpoint_base(base) or not isinstance(cm, SwiftContentsManager):
        outcome = delegate(handler)
        if inspect.isawaitable(outcome):
            await outcome
        return
    try:
        await _authorize(handler)
        with swift_errors(cm.log):
            target = parse_base(base)
        answer = await checkpoint_answer(cm, target)
    except web.HTTPError as exc:
        _finish_error(handler, exc)
        return
    except Exception as exc:  # a bug: logged once, answered in the same JSON shape
        cm.log.error("nbdime checkpoint diff failed", exc_info=True)
        _finish_error(handler, web.HTTPError(500, f"Unexpected error: {type(exc).__name__}"))
        return
    handler.set_header("Content-Type", "application/json")
    handler.finish(json.dumps(answer, default=str))


def install() -> bool:
    """Wrap nbdime's diff API handler (once); False when nbdime is not installed."""
    try:
        from nbdime.webapp.nb_server_extension import ExtensionApiDiffHandler
    except ImportError:
        return False
    original = ExtensionApiDiffHandler.post
    if getattr(original, _INSTALLED, False):
        return True

    @functools.wraps(original)
    async def post(self: Any) -> None:
        await serve(self, original)

    setattr(post, _INSTALLED, True)
    ExtensionApiDiffHandler.post = post  # type: ignore[method-assign]
    return True
