"""The magics in a real InteractiveShell against a real s2aio."""
from __future__ import annotations

import getpass
import json
import os
import uuid

import pytest
from IPython.core.error import UsageError

from ipython_ext import StorletResult, StorletTable
from tests.conftest import FILES, env_name, shown_user
from tests.names import QUOTED_NAMES

from .conftest import UPPER, clear_auth_env

pytestmark = pytest.mark.integration

HELPER = 'def shout(data):\n    return data.upper() + b"!"\n'
WITH_HELPER = '''\
import helper_shout


class ShoutStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out_files[0].set_metadata({})
        out_files[0].write(helper_shout.shout(in_files[0].read()))
        in_files[0].close()
        out_files[0].close()
'''


def run(ip, line: str):
    """Run ``line`` as a cell; return the ExecutionResult."""
    return ip.run_cell(line, store_history=False)


# -- %%storletapp -------------------------------------------------------------

def test_storletapp_uploads_with_storlet_headers(ip, auth, conn, capsys):
    ip.run_cell_magic("storletapp", "upper.UpperStorlet", UPPER)
    out = capsys.readouterr().out
    assert "Upload storlets succeeded /storlet/upper.py" in out
    headers, body = conn.get_object("storlet", "upper.py")
    assert body.decode() == UPPER
    assert headers["x-object-meta-storlet-main"] == "upper.UpperStorlet"
    assert headers["x-object-meta-storlet-language"] == "python"


def test_storletapp_with_invoke_print_result_and_o(ip, auth, obj, capsys):
    ip.run_cell_magic("storletapp", f"upper.UpperStorlet --with-invoke --input {obj} "
                      "--print-result --param suffix=! -o r", UPPER)
    out = capsys.readouterr().out
    assert "Invocation Complete" in out and "Result Content:\nHELLO WORLD!" in out
    r = ip.user_ns["r"]
    assert r.status == 200 and r.content == b"HELLO WORLD!"
    assert r.headers["x-object-meta-upper"] == "yes"


def test_storletapp_dependencies(ip, auth, obj, conn):
    ip.run_cell_magic("uploadfile", "dependency/helper_shout.py", HELPER)
    assert conn.head_object("dependency", "helper_shout.py")[
        "x-object-meta-storlet-dependency-version"] == "1"
    ip.run_cell_magic("storletapp", f"shout.ShoutStorlet -d helper_shout.py --with-invoke "
                      f"--input {obj} -o r", WITH_HELPER)
    assert ip.user_ns["r"].content == b"HELLO WORLD!"
    assert conn.head_object("storlet", "shout.py")["x-object-meta-storlet-dependency"] == \
        "helper_shout.py"
    # --local fetches the same dependency from Swift
    ip.run_cell_magic("storletapp", f"shout.ShoutStorlet -d helper_shout.py --local "
                      f"--input {obj} -o l", WITH_HELPER)
    assert ip.user_ns["l"].content == b"HELLO WORLD!"


def test_storletapp_local_on_file_and_object(ip, auth, obj, tmp_path, conn):
    before = conn.get_container("storlet")[1]
    local = tmp_path / "in.txt"
    local.write_bytes(b"abc")
    ip.user_ns["p"] = {"suffix": "?"}
    ip.run_cell_magic("storletapp", f"localonly.UpperStorlet --local --input {local} -i p -o r",
                      UPPER)
    r = ip.user_ns["r"]
    assert (r.status, r.content, r.metadata) == (200, b"ABC?", {"upper": "yes"})
    assert "upper: 1 input(s)" in r.log
    ip.run_cell_magic("storletapp", f"localonly.UpperStorlet --local --input {obj} "
                      f"--extra {obj} --range 0-4 -o r", UPPER)
    assert ip.user_ns["r"].content == b"HELLOHELLO WORLD"  # range applies to the main input
    assert conn.get_container("storlet")[1] == before  # nothing deployed


def test_storletapp_local_needs_no_credentials_without_dependencies(ip, monkeypatch, tmp_path):
    from .conftest import AUTH_VARS

    for name in AUTH_VARS:
        monkeypatch.delenv(name, raising=False)
    local = tmp_path / "in.txt"
    local.write_bytes(b"offline")
    ip.run_cell_magic("storletapp", f"localonly.UpperStorlet --local --input {local} -o r", UPPER)
    assert ip.user_ns["r"].content == b"OFFLINE"
    # A dependency lives in Swift: then, and only then, credentials are asked for.
    with pytest.raises(UsageError, match="credentials|ST_AUTH|OS_AUTH_URL"):
        ip.run_cell_magic("storletapp", f"shout.ShoutStorlet -d helper_shout.py --local "
                          f"--input {local} -o r", WITH_HELPER)


def test_storletapp_local_engine_rules(ip, auth, tmp_path):
    local = tmp_path / "in.txt"
    local.write_bytes(b"abc")
    with pytest.raises(UsageError, match="local run of localonly.py failed: the storlet raised"):
        ip.run_cell_magic("storletapp", f"localonly.UpperStorlet --local --input {local} "
                          "--param raise=1", UPPER)
    with pytest.raises(UsageError, match="has no class Nope"):
        ip.run_cell_magic("storletapp", f"localonly.Nope --local --input {local}", UPPER)


# -- %get / %put / %copy --------------------------------------------------------

def test_get_with_params_var_and_param(ip, upper, obj):
    ip.user_ns["params"] = {"suffix": "-1"}
    ip.run_line_magic("get", f"--storlet upper.py --input {obj} -i params -o r")
    r = ip.user_ns["r"]
    assert isinstance(r, StorletResult)
    assert r.status == 200 and b"".join(r.iter_content()) == b"HELLO WORLD-1"
    assert r.content == b"HELLO WORLD-1" and r.transaction_id
    ip.run_line_magic("get", f"--storlet upper --input {obj} -i params --param suffix=-2 -o r")
    assert ip.user_ns["r"].content == b"HELLO WORLD-2"


def test_get_range_extra_and_proxy(ip, upper, obj):
    ip.run_line_magic("get", f"--storlet upper.py --input {obj} --range 6-10 -o r")
    assert ip.user_ns["r"].content == b"WORLD"
    ip.run_line_magic("get", f"--storlet upper.py --input {obj} --extra {obj} -o r")
    assert ip.user_ns["r"].content == b"HELLO WORLDHELLO WORLD"
    ip.run_line_magic("get", f"--storlet upper.py --input {obj} --run-on-proxy -o r")
    assert ip.user_ns["r"].content == b"HELLO WORLD"


def test_get_local_runs_the_deployed_storlet(ip, upper, obj):
    ip.run_line_magic("get", f"--storlet upper.py --input {obj} --local --param suffix=L -o r")
    r = ip.user_ns["r"]
    assert (r.action, r.content) == ("LOCAL", b"HELLO WORLDL")
    assert "upper: 1 input(s)" in r.log


def test_get_without_o_displays_the_result(ip, upper, obj, capsys):
    result = run(ip, f"%get --storlet upper.py --input {obj}")
    assert result.success
    assert isinstance(result.result, StorletResult)
    out = capsys.readouterr().out
    assert "status 200" in out and "HELLO WORLD" in out
    assert "HELLO WORLD" in result.result._repr_html_()


def test_log_from_get_and_storlet_log(ip, upper, obj, capsys):
    ip.run_line_magic("get", f"--storlet upper.py --input {obj} --log -o r")
    assert "upper: 1 input(s)" in ip.user_ns["r"].log
    for _ in range(2):  # on the proxy (extra inputs); the 2nd run follows a logged run there
        ip.run_line_magic("get", f"--storlet upper.py --input {obj} --extra {obj} --log -o r")
    # The engine appends to one log file per node: a result carries only its own entries.
    assert ip.user_ns["r"].log.count("upper: ") == 1 and "2 input(s)" in ip.user_ns["r"].log
    log = ip.run_line_magic("storlet_log", "upper.py")
    assert "upper: 2 input(s)" in log and "upper: 2 input(s)" in log._repr_html_()
    ip.run_line_magic("storlet_log", "upper.py -o saved")
    assert ip.user_ns["saved"] == log


def test_put_transforms_a_local_file_with_progress(ip, upper, container, conn, tmp_path, capsys):
    big = tmp_path / "big.txt"
    big.write_bytes(b"ab" * (3 << 20))  # 6 MiB: above the progress threshold
    ip.run_line_magic("put", f"--storlet upper.py --input {big} --output path:/{container}/big "
                      "--param suffix=Z -o r")
    r = ip.user_ns["r"]
    assert r.status == 201 and "etag" in r.headers
    headers, body = conn.get_object(container, "big")
    assert body == b"AB" * (3 << 20) + b"Z" and headers["x-object-meta-upper"] == "yes"
    assert "100%" in capsys.readouterr().err


def test_copy_transforms_inside_swift(ip, upper, obj, container, conn):
    ip.run_line_magic("copy", f"--storlet upper.py --input {obj} "
                      f"--output path:/{container}/copied -o r --log")
    r = ip.user_ns["r"]
    assert r.status == 201
    assert conn.get_object(container, "copied")[1] == b"HELLO WORLD"
    assert "upper: 1 input(s)" in r.log


# -- %%uploadfile, %storlets, %storlet_auth -----------------------------------

def test_uploadfile_cell_and_line(ip, auth, container, conn, tmp_path):
    ip.run_cell_magic("uploadfile", f"{container}/notes/a.txt", "some text\n")
    headers, body = conn.get_object(container, "notes/a.txt")
    assert body == b"some text\n" and headers["content-type"].startswith("text/plain")
    local = tmp_path / "data.bin"
    local.write_bytes(bytes(range(256)))
    ip.run_line_magic("uploadfile", f"path:/{container}/data.bin {local}")
    assert conn.get_object(container, "data.bin")[1] == bytes(range(256))


def test_uploadfile_creates_the_container(ip, auth, conn, capsys):
    name = f"t-new-{uuid.uuid4().hex[:8]}"
    try:
        ip.run_cell_magic("uploadfile", f"{name}/hello.txt", "hello world\n")
        assert f"Created container {name}" in capsys.readouterr().out
        assert conn.get_object(name, "hello.txt")[1] == b"hello world\n"
        ip.run_cell_magic("uploadfile", f"{name}/again.txt", "x")  # exists now: no PUT
        assert "Created container" not in capsys.readouterr().out
    finally:
        for obj in conn.get_container(name)[1]:
            conn.delete_object(name, obj["name"])
        conn.delete_container(name)


def test_listing_rows_are_named_by_object(ip, auth, deployed, conn, container):
    notebook = (FILES / "notebooks" / "report.ipynb").read_bytes()
    for name in ("a.ipynb", "b c.ipynb"):
        conn.put_object(container, name, notebook)
    ip.run_line_magic("get", f"--storlet nblisting.py --input path:/{container}/a.ipynb "
                      f"--extra 'path:/{container}/b c.ipynb' --run-on-proxy -o r")
    rows = json.loads(ip.user_ns["r"].content)
    assert [row["name"] for row in rows] == ["a.ipynb", "b c.ipynb"]
    assert "b c.ipynb" in ip.user_ns["r"]._repr_html_()
    ip.run_line_magic("get", f"--storlet nblisting.py --input path:/{container}/a.ipynb "
                      f"--local -o r")  # the in-process run is named the same way
    assert [row["name"] for row in json.loads(ip.user_ns["r"].content)] == ["a.ipynb"]
    ip.run_line_magic("get", f"--storlet nblisting.py --input path:/{container}/a.ipynb "
                      "--param 'names=[\"mine\"]' -o r")  # the user's own names win
    assert json.loads(ip.user_ns["r"].content)[0]["name"] == "mine"


def test_storlets_table(ip, upper, capsys):
    table = ip.run_line_magic("storlets", "")
    assert isinstance(table, StorletTable)
    row = next(r for r in table.rows if r["name"] == "upper.py")
    assert (row["main"], row["language"]) == ("upper.UpperStorlet", "python")
    assert row["size"] == len(UPPER.encode()) and row["last_modified"]
    assert "upper.UpperStorlet" in table._repr_html_()


def test_storlet_auth_from_a_private_env_file(ip, s2aio, monkeypatch, tmp_path, capsys):
    env = s2aio.env("test2")
    clear_auth_env(monkeypatch, env)
    env_file = tmp_path / "s2aio.env"  # what `s2aio env --user test2 > FILE` writes
    env_file.write_text("".join(f"export {k}='{v}'\n" for k, v in env.items())
                        + "unset OS_AUTH_TOKEN\n")
    env_file.chmod(0o600)
    ip.run_line_magic("storlet_auth", f"--env-file {env_file}")
    out = capsys.readouterr().out
    assert f"as {shown_user(s2aio, 'test2')}" in out and s2aio.storage_url("test2") in out
    assert env[env_name(s2aio, "key")] not in out


def test_storlet_auth_asks_and_keeps_the_key_out_of_history(ip, s2aio, monkeypatch, capsys):
    env = s2aio.env("test")
    key_var, user_var = env_name(s2aio, "key"), env_name(s2aio, "user")
    clear_auth_env(monkeypatch, env)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="", stream=None: env[key_var])
    cell = "%%storlet_auth\n" + "".join(f"export {k}={v}\n" for k, v in env.items()
                                        if k != key_var and not k.startswith("S2AIO_"))
    result = ip.run_cell(cell, store_history=True)
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert f"as {shown_user(s2aio)}" in out and s2aio.storage_url("test") in out
    assert env[key_var] not in out
    assert os.environ[key_var] == env[key_var]
    history = "\n".join(ip.history_manager.input_hist_raw)
    assert f"export {user_var}={env[user_var]}" in history  # the cell is there, the key is not
    assert env[key_var] not in history


# -- errors -----------------------------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("--input path:/c/o -o r", "--storlet is required"),
    ("--storlet upper.py -o r", "--input is required"),
    ("--storlet upper.py --input /c/o -o r", "path:/<container>/<object>"),
    ("--storlet upper.py --input path:/c -o r", "needs a container and an object"),
    ("--storlet upper.py --input path:/c/o -i nosuchvar -o r", "no variable named 'nosuchvar'"),
    ("--storlet upper.py --input path:/c/o -i notadict -o r", "must be a dict"),
    ("--storlet upper.py --input path:/c/o -o 1r", "Python variable name"),
    ("--storlet upper.py --input path:/c/o --param nokey", "key=value"),
    ("--storlet upper.py --input path:/c/o --range x", "--range"),
    ("--storlet upper.py --input path:/c/o --bogus", "unrecognized arguments"),
])
def test_get_usage_errors(ip, auth, line, message):
    ip.user_ns["notadict"] = [1, 2]
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        ip.run_line_magic("get", line)


def test_other_usage_errors(ip, auth, tmp_path):
    with pytest.raises(UsageError, match="module.Class"):
        ip.run_cell_magic("storletapp", "upper", UPPER)
    with pytest.raises(UsageError, match="--with-invoke needs --input"):
        ip.run_cell_magic("storletapp", "upper.UpperStorlet --with-invoke", UPPER)
    with pytest.raises(UsageError, match="local path"):
        ip.run_line_magic("put", "--storlet upper.py --input path:/c/o --output path:/c/o -o r")
    with pytest.raises(UsageError, match="no such local file"):
        ip.run_line_magic("put", f"--storlet upper.py --input {tmp_path}/nope "
                          "--output path:/c/o -o r")
    with pytest.raises(UsageError, match="--output is required"):
        ip.run_line_magic("copy", "--storlet upper.py --input path:/c/o -o r")


def one_line_error(ip, capsys, line: str, token: str) -> str:
    """Run ``line`` as a cell; the error output must be one line without secrets."""
    result = run(ip, line)
    assert not result.success
    captured = capsys.readouterr()
    text = (captured.out + captured.err).strip()
    assert len(text.splitlines()) == 1, text
    assert "Traceback" not in text and token not in text and "testing" not in text
    return text


def test_swift_404_is_one_line_with_transaction(ip, upper, container, capsys, conn):
    token = conn.get_auth()[1]
    text = one_line_error(ip, capsys, f"%get --storlet upper.py --input path:/{container}/nope -o r",
                          token)
    assert "404" in text and "transaction tx" in text


def test_swift_401_bad_key(ip, s2aio, auth, monkeypatch, capsys, obj):
    monkeypatch.setenv(env_name(s2aio, "key"), "wrong-secret-key")
    text = one_line_error(ip, capsys, f"%get --storlet upper.py --input {obj} -o r",
                          "wrong-secret-key")
    assert "401" in text and "credentials" in text


def test_swift_403_token_of_another_account(ip, s2aio, auth, monkeypatch, capsys, obj, conn):
    # Pre-authenticated mode: test's storage URL with test2's token.
    other = s2aio.connection("test2")
    token2 = other.get_auth()[1]
    other.close()
    for what in ("url", "user", "key"):
        monkeypatch.delenv(env_name(s2aio, what))
    monkeypatch.setenv("OS_STORAGE_URL", s2aio.storage_url("test"))
    monkeypatch.setenv("OS_AUTH_TOKEN", token2)
    text = one_line_error(ip, capsys, "%storlets", token2)
    assert "403" in text and "transaction tx" in text
    # The storlet middleware checks storlet access first: 401 there.
    text = one_line_error(ip, capsys, f"%get --storlet upper.py --input {obj} -o r", token2)
    assert "401" in text and "transaction tx" in text


def test_storlet_of_another_account_is_missing_here(ip, s2aio, auth, monkeypatch, capsys,
                                                   obj, conn):
    for name, value in s2aio.env("test2").items():
        monkeypatch.setenv(name, value)
    text = one_line_error(ip, capsys, f"%get --storlet upper.py --input {obj} -o r",
                          conn.get_auth()[1])
    assert "storlet upper.py is not deployed" in text and "401" in text
    assert "transaction tx" in text and "credentials" not in text


@pytest.mark.parametrize("line", [
    "%get --storlet uper.py --input {obj} -o r",
    "%get --storlet uper --input {obj} --local -o r",
    "%copy --storlet uper.py --input {obj} --output path:/{container}/out -o r",
])
def test_missing_storlet_is_reported_as_missing(ip, upper, obj, container, capsys, conn, line):
    text = one_line_error(ip, capsys, line.format(obj=obj, container=container),
                          conn.get_auth()[1])
    assert "storlet uper.py is not deployed" in text and "%storlets" in text
    assert "credentials" not in text
    assert "out" not in {o["name"] for o in conn.get_container(container)[1]}  # nothing written


def test_storlet_that_raises_is_a_clear_422(ip, upper, obj, capsys, conn):
    # The gateway answers 422 with the reason (upstream: a bare 503 that
    # error-limits the object node for every account).
    text = one_line_error(ip, capsys, f"%get --storlet upper.py --input {obj} --param raise=1 -o r",
                          conn.get_auth()[1])
    assert "422" in text and "failed before it produced its output" in text
    assert "X-Storlet-Generate-Log" in text and "transaction tx" in text


def test_storlet_error_document(ip, upper, obj, container, capsys, conn):
    text = one_line_error(ip, capsys, f"%get --storlet upper.py --input {obj} --param fail=1 -o r",
                          conn.get_auth()[1])
    assert "asked to report an error" in text and "status 200" in text and "transaction tx" in text
    assert ip.user_ns["r"].headers["x-object-meta-nb-error"]  # the document is kept
    text = one_line_error(ip, capsys, f"%copy --storlet upper.py --input {obj} "
                          f"--output path:/{container}/bad --param fail=1 -o r", conn.get_auth()[1])
    assert "asked to report an error" in text and "COPY" in text


def test_storlet_log_missing(ip, auth, capsys, conn):
    text = one_line_error(ip, capsys, "%storlet_log neverlogged.py", conn.get_auth()[1])
    assert "invoke it with --log first" in text


# -- names that need quoting ------------------------------------------------------

@pytest.mark.parametrize("name", QUOTED_NAMES)
def test_get_with_names_that_need_quoting(ip, upper, conn, container, name):
    """The object, an extra resource and a --param value all named ``name``:
    Swift finds both objects and the storlet receives the value exactly."""
    conn.put_object(container, name, name.encode("utf-8"))
    path = f"path:/{container}/{name}"
    ip.run_line_magic("get", f"--storlet upper.py --input '{path}' --extra '{path}' "
                      f"--run-on-proxy --param 'suffix={name}' -o r")
    data = name.encode("utf-8")
    assert ip.user_ns["r"].content == data.upper() * 2 + data  # bytes.upper(): ASCII only
    ip.user_ns["params"] = {"suffix": name}
    ip.run_line_magic("get", f"--storlet upper.py --input '{path}' -i params -o r")
    assert ip.user_ns["r"].content == data.upper() + data
