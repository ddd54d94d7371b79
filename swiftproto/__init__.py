"""What every part of the project shares about Swift and the storlets engine.

Modules::

    connection   Swift auth settings (tempauth v1, keystone v3, pre-authenticated)
                 from the environment or private files; ``connect`` (swiftclient)
    protocol     storlet request and upload headers, the one parameter quoting
                 rule, the engine limits
    batching     how many notebooks one listing call may read
    describe     one safe line for a failed Swift request
    redact       secrets out of anything that may reach a log, an error or a page
    names        which storlet and dependency names are safe as host paths
    harness      a storlet run in this process with the engine's file rules

Errors::

    SwiftProtoError
     ├── UnsafeNameError (also a ValueError): a storlet, dependency or scope
     │   name that could reach a host path
     ├── SettingsError (also a ValueError): auth settings missing or inconsistent
     ├── ParameterError (also a ValueError): a storlet parameter the engine
     │   cannot pass on (a name with ':', a value too long for one header)
     └── HarnessError: a storlet broke an engine rule when run in this process
"""
from __future__ import annotations

from .batching import ListingCall, batches, listing_calls, names_parameter
from .connection import (SECRET_VARIABLES, SwiftSettings, connect, read_private_text,
                         read_secret_file, secret_variable, settings_from_env)
from .describe import describe_client_error
from .errors import ParameterError, SettingsError, SwiftProtoError, UnsafeNameError
from .names import MAX_NAME_BYTES, check_engine_name
from .protocol import (dependency_object_headers, parameter_headers, quote_parameter,
                       resource_path, run_headers, storlet_object_headers)
from .redact import redact

__all__ = ["MAX_NAME_BYTES", "SECRET_VARIABLES", "ListingCall", "ParameterError",
           "SettingsError", "SwiftProtoError", "SwiftSettings", "UnsafeNameError", "batches",
           "check_engine_name", "connect", "dependency_object_headers", "describe_client_error",
           "listing_calls", "names_parameter", "parameter_headers", "quote_parameter",
           "read_private_text", "read_secret_file", "redact", "resource_path", "run_headers",
           "secret_variable", "settings_from_env", "storlet_object_headers"]
