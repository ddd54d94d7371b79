"""storlets-deploy: put this project's storlets and their dependencies into Swift.

Public surface::

    deploy(conn, *, source_dir=None, warm=False, dry_run=False, progress=None) -> DeployReport
    check(conn, source_dir=None) -> list[str]
    upload_storlet(conn, path_or_source, *, name, main_class, dependencies=(), container="storlet")
    enable_account(admin_conn, storage_url)
    find_storlets(source_dir) -> list[StorletSpec]

Errors::

    DeployError      every failure of this package (one clear line, no secrets)
    swiftproto.SettingsError   missing/inconsistent auth settings (shared module)
"""
from __future__ import annotations

import logging

from .api import (Containers, DeployReport, check, default_source_dir, deploy, enable_account,
                  upload_storlet, warm_storlets)
from .discover import StorletSpec, find_storlets
from .errors import DeployError

__all__ = ["DeployError", "DeployReport", "Containers", "StorletSpec", "deploy", "check",
           "upload_storlet", "enable_account", "warm_storlets", "find_storlets",
           "default_source_dir"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
