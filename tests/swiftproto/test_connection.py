"""Connection settings, secret files, redaction and the description of a Swift error."""
from __future__ import annotations

import os

import pytest
import swiftclient.client
from swiftclient.exceptions import ClientException

from swiftproto import (SettingsError, SwiftSettings, connect, describe_client_error,
                        read_secret_file, redact, secret_variable, settings_from_env)

V1 = {"ST_AUTH": "http://127.0.0.1:1/auth/v1.0", "ST_USER": "a:b", "ST_KEY": "k-secret"}
TOKEN = {"OS_STORAGE_URL": "http://127.0.0.1:1/v1/AUTH_a", "OS_AUTH_TOKEN": "tok-secret"}
V3 = {"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p-secret",
      "OS_PROJECT_NAME": "p", "OS_USER_DOMAIN_NAME": "Default"}


def test_modes_and_their_priority():
    assert settings_from_env(V1).mode == "v1"
    assert settings_from_env(V3).mode == "v3"
    assert settings_from_env({**V1, **V3, **TOKEN}).mode == "token"  # a token wins
    assert settings_from_env({**V1, **V3}).mode == "v1"
    assert settings_from_env({**V3, "OS_IDENTITY_API_VERSION": "1"}).mode == "v1"
    assert settings_from_env(V3).os_options() == {"project_name": "p",
                                                  "user_domain_name": "Default"}


def test_missing_settings_say_which():
    with pytest.raises(SettingsError, match="No Swift credentials"):
        settings_from_env({})
    with pytest.raises(SettingsError, match="missing: key/password"):
        settings_from_env({k: v for k, v in V1.items() if k != "ST_KEY"})
    with pytest.raises(SettingsError, match="project name or id"):
        settings_from_env({k: v for k, v in V3.items() if k != "OS_PROJECT_NAME"})


def test_secrets_stay_out_of_repr_and_describe():
    for env in (V1, V3, TOKEN):
        s = settings_from_env(env)
        assert "secret" not in repr(s) and "secret" not in s.describe()


def test_secret_variable_follows_the_priority():
    assert [secret_variable(e) for e in (V1, V3, TOKEN, {})] == [
        "ST_KEY", "OS_PASSWORD", "OS_AUTH_TOKEN", None]


def test_secret_files_private_and_first_line(tmp_path):
    path = tmp_path / "key"
    path.write_text("pass word\r\nsecond\n")
    os.chmod(path, 0o600)
    assert read_secret_file(path) == "pass word"
    os.chmod(path, 0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        read_secret_file(path)


def test_connect_builds_a_retrying_client():
    conn = connect(settings_from_env(TOKEN), retries=2)
    assert (conn.retries, conn.os_options["object_storage_url"]) == (2, TOKEN["OS_STORAGE_URL"])
    conn = connect(settings_from_env(V3))
    assert (conn.auth_version, conn.user, conn.os_options["project_name"]) == ("3", "u", "p")


def test_one_redact_for_known_secrets_and_patterns():
    settings = SwiftSettings(mode="v1", auth_url="http://h", user="u", key="k-secret")
    text = redact("k-secret x-auth-token: AUTH_tk0123456789abcdef01 other", settings,
                  secrets=("other", None))
    assert text == "*** x-auth-token: *** ***"
    assert redact("token AUTH_tk0123456789abcdef0123") == "token AUTH_tk***"


def test_a_swift_error_is_one_safe_line():
    exc = ClientException("Object GET failed", http_status=503, http_reason="Service Unavailable",
                          http_response_content=b"storlet failed for token AUTH_tk0123456789abcdef01",
                          http_response_headers={"X-Trans-Id": "tx9"})
    assert describe_client_error(exc) == (
        "503 Service Unavailable: storlet failed for token AUTH_tk*** (transaction tx9)")
    html = ClientException("x", http_status=404, http_reason="Not Found",
                           http_response_content=b"<html><h1>Not Found</h1></html>")
    assert describe_client_error(html) == "404 Not Found (transaction unknown)"
    assert describe_client_error(ClientException("no answer")) == (
        "no answer (transaction unknown)")



def test_a_keystone_refusal_is_a_401_as_with_tempauth(monkeypatch):
    # swiftclient reports keystone's 401 without a status (its words below); callers'
    # 401 handling needs it. The real refusal: the keystone-mode integration tests.
    def failing_auth(message: str) -> ClientException:
        def fail(*args, **kwargs):
            raise ClientException(message)

        monkeypatch.setattr(swiftclient.client, "get_auth", fail)
        with pytest.raises(ClientException) as caught:
            connect(settings_from_env(V3), retries=0).get_auth()
        return caught.value

    refused = failing_auth("Unauthorized. Check username/id, password, tenant name/id "
                           "and user/tenant domain name/id.")
    assert (refused.http_status, refused.http_reason) == (401, "Unauthorized")
    other = failing_auth("Authorization Failure. no catalog")
    assert other.http_status is None  # anything else is left as it was
