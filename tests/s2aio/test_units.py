"""Pure parts of s2aio: configs, pid files, CLI usage."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s2aio import configs, procs
from s2aio.cli import main
from s2aio.sandbox import Limits, SandboxConfigError, bwrap_argv
from s2aio.layout import Layout
from s2aio.logsink import format_line

PORTS = configs.Ports(proxy=1, account=2, container=3, object=4, memcached=5, syslog=6)


def test_proxy_pipeline_has_storlets_and_s3api_before_tempauth():
    text = configs.proxy_conf(Layout(Path("/d")), PORTS, configs.Users("k"))
    pipeline = next(line for line in text.splitlines() if line.startswith("pipeline ="))
    names = pipeline.split("=", 1)[1].split()
    for needed in ("storlet_handler", "copy", "slo", "dlo", "versioned_writes", "symlink"):
        assert needed in names
    assert names.index("s3api") < names.index("tempauth") < names.index("storlet_handler")
    assert "memcache_servers = 127.0.0.1:5" in text
    assert "storlet_gateway_module = s2aio.gateway.BwrapStorletGateway" in text


def test_object_server_runs_storlets_and_everything_points_into_data_dir():
    text = configs.backend_conf("object", Layout(Path("/data/x")), PORTS)
    assert "execution_server = object" in text
    assert "devices = /data/x/devices" in text and "swift_dir = /data/x/etc" in text
    assert "bind_port = 4" in text


def _argv(**limits):
    return bwrap_argv(pipe_dir="/p", storlet_dir="/s", native_dir="/n", log_socket="/nope",
                      sandbox_pipe_dir="/mnt/channels", sandbox_storlet_dir="/var/lib/storlets",
                      seccomp_fd=7, limits=Limits(**limits))


def test_sandbox_has_no_network_and_readonly_root():
    argv = _argv()
    assert "--unshare-net" in argv and "--unshare-pid" in argv
    assert argv[argv.index("--remount-ro") + 1] == "/"
    i = argv.index("/n")
    assert argv[i - 1] == "--ro-bind" and argv[i + 1] == "/usr/local/lib/storlets"
    # the storlet dir is read-only inside; only the pipe dir is writable
    assert argv[argv.index("/s") - 1] == "--ro-bind"
    assert argv[argv.index("/p") - 1] == "--bind"


def test_sandbox_is_unprivileged_and_filtered():
    argv = _argv()
    for flag in ("--unshare-user", "--disable-userns", "--new-session", "--die-with-parent"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--seccomp") + 1] == "7"
    # nothing of the host's /etc but what Python needs
    binds = {argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"}
    assert "/etc" not in binds and "/etc/shadow" not in binds
    assert "/etc/passwd" in binds or not os.path.exists("/etc/passwd")


def test_limits_are_hard_and_configurable():
    limits = Limits.from_conf({"sandbox_memory_mb": "128", "sandbox_processes": "32"})
    argv = limits.prlimit_argv()
    assert f"--as={128 << 20}" in argv and "--nproc=32" in argv and "--core=0" in argv
    assert argv[-1] == "--"
    assert Limits.from_conf({}) == Limits()
    for bad in ({"sandbox_memory_mb": "lots"}, {"sandbox_processes": "0"},
                {"sandbox_open_files": str(1 << 30)}):
        with pytest.raises(SandboxConfigError):
            Limits.from_conf(bad)


def test_seccomp_profile_denies_what_docker_denies():
    from s2aio import seccomp_profile as prof

    for name in ("mount", "umount2", "ptrace", "kexec_load", "bpf", "keyctl", "init_module",
                 "finit_module", "perf_event_open", "reboot", "swapon", "unshare", "setns"):
        assert name in prof.DENIED, name
    assert set(prof.CLONE_NEW_FLAGS) >= {"CLONE_NEWUSER", "CLONE_NEWNS", "CLONE_NEWNET"}
    assert prof.PROTECTED_PIDS == (1, 2)


def test_seccomp_filter_compiles_with_libseccomp(tmp_path):
    out = tmp_path / "f.bpf"
    profile = Path(__file__).resolve().parents[2] / "s2aio" / "seccomp_profile.py"
    done = subprocess.run(["/usr/bin/python3", "-I", str(profile), str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert len(data) % 8 == 0 and len(data) > 8 * 50  # BPF instructions of 8 bytes
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_pid_file_ignores_a_reused_pid(tmp_path):
    pid_file = tmp_path / "x.pid"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                            start_new_session=True)
    try:
        pid_file.write_text(f"{proc.pid} 1")  # wrong start time: not ours
        assert procs.read_pid_file(pid_file) is None
        pid_file.write_text(f"{proc.pid} {procs.process_start_time(proc.pid)}")
        assert procs.read_pid_file(pid_file) == proc.pid
        assert procs.stop_pid_file(pid_file)
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not pid_file.exists()


def test_stop_ends_the_orphans_of_a_killed_leader(tmp_path):
    """A Swift server's worker outlives its SIGKILLed parent and keeps the port:
    stop (and so start) must still end it."""
    pid_file, child_file = tmp_path / "x.pid", tmp_path / "child"
    code = ("import os, sys, time\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    time.sleep(60); os._exit(0)\n"
            f"open({str(child_file)!r}, 'w').write(str(pid))\n"
            "time.sleep(60)\n")
    leader = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    pid_file.write_text(f"{leader.pid} {procs.process_start_time(leader.pid)}")
    try:
        while not child_file.exists() or not child_file.read_text():
            assert leader.poll() is None
            time.sleep(0.05)
        child = int(child_file.read_text())
        leader.kill()
        leader.wait(timeout=5)
        assert procs.read_pid_file(pid_file) is None  # the leader is gone...
        assert procs.pid_is_alive(child)  # ...its worker is not
        assert procs.stop_pid_file(pid_file)
        assert not procs.pid_is_alive(child)
    finally:
        if leader.poll() is None:
            leader.kill()
        try:
            os.killpg(leader.pid, 9)
        except OSError:
            pass


def test_log_line_strips_priority():
    assert format_line(b"<134>proxy-server: hello\n").endswith(b" proxy-server: hello\n")


def test_cli_usage_error_exits_2(capsys):
    assert main(["start", "--port", "notaport"]) == 2
    assert main([]) == 2


def test_env_prints_exports(tmp_path, capsys):
    (tmp_path / "s2aio.json").write_text(
        '{"layout_version": 1, "ports": {"proxy": 18999, "account": 1, "container": 2,'
        ' "object": 3, "memcached": 4, "syslog": 5}, "admin_key": "secret-admin"}')
    assert main(["env", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "export ST_AUTH=http://127.0.0.1:18999/auth/v1.0" in out
    assert "export ST_KEY=testing" in out
    assert "secret-admin" not in out


def test_status_without_data_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["status", "--data-dir", str(tmp_path / "none")]) == 1
    assert "run `s2aio start` first" in capsys.readouterr().err


def test_missing_tools_say_how_to_install(tmp_path, monkeypatch):
    import shutil

    import pytest

    from s2aio import S2AIO, S2AIOError

    real_which = shutil.which
    for tool, package in (("bwrap", "bubblewrap"), ("memcached", "memcached")):
        monkeypatch.setattr(shutil, "which", lambda name, t=tool: None if name == t else real_which(name))
        with pytest.raises(S2AIOError, match=f"apt-get install -y {package}"):
            S2AIO(tmp_path / "d").start()
    assert not (tmp_path / "d").exists()  # nothing created, nothing started


def test_confine_step_runs_before_the_engine_and_refuses_regular_files(tmp_path):
    """confine.py restricts itself, then execs: only sockets beneath the allowed dir."""
    from s2aio import confine

    assert confine.handled_writes(1) & confine.MAKE_REG
    assert not confine.ALLOWED["/mnt/channels"] & confine.MAKE_REG
    script = Path(confine.__file__)
    sock_dir = tmp_path / "channels"
    sock_dir.mkdir()
    probe = (
        "import os, socket, sys\n"
        f"sys.path.insert(0, {str(script.parent)!r})\n"
        "import confine\n"
        f"confine.confine({{{str(sock_dir)!r}: confine.MAKE_SOCK | confine.REMOVE_FILE}})\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.bind({str(sock_dir / 'sock')!r})\n"
        "try:\n"
        f"    open({str(sock_dir / 'file')!r}, 'w')\n"
        "    print('file made')\n"
        "except PermissionError:\n"
        "    print('file refused')\n"
    )
    done = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", probe],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "file refused"
    assert (sock_dir / "sock").exists() and not (sock_dir / "file").exists()


SBUS_PROBE = r"""
import socket, sys, time
import storlets.gateway.gateways.container.runtime  # patches the process, as in Swift
from storlets.sbus.client import SBusClient
from storlets.sbus.client.exceptions import SBusClientIOError
from storlets.sbus.sbus import SBus
from s2aio.gateway import bound_sbus_requests

SBus.SBUS_SO_NAME = sys.argv[2]
bound_sbus_requests(0.5)
mute = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # takes requests, never answers
mute.bind(sys.argv[1])
start = time.monotonic()
try:
    SBusClient(sys.argv[1]).ping()
    print("answered")
except SBusClientIOError as exc:
    print("gave up after %.1f s" % (time.monotonic() - start))
"""


def test_sbus_requests_give_up_on_a_daemon_that_never_answers(tmp_path):
    """A storlet can bind its own socket where the gateway expects its daemon's:
    upstream would then wait for the answer forever (one stuck green thread and
    its fds per call, until the server stops answering anyone)."""
    from s2aio.native import libsbus_path

    done = subprocess.run([sys.executable, "-c", SBUS_PROBE, str(tmp_path / "mute"),
                           str(libsbus_path())], capture_output=True, text=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = done.stdout.strip().splitlines()[-1]
    assert outcome.startswith("gave up after"), outcome
    assert float(outcome.split()[3]) < 3


def test_a_data_dir_the_sandbox_user_cannot_reach_is_found():
    import shutil
    import tempfile

    from s2aio.core import untraversable_ancestor

    base = Path(tempfile.mkdtemp(prefix="s2aio-u"))  # pytest's tmp_path sits in a 0700 dir
    try:
        _check_untraversable(base, untraversable_ancestor)
    finally:
        shutil.rmtree(base)


def _check_untraversable(base, untraversable_ancestor):
    os.chmod(base, 0o755)
    closed = base / "closed"
    (closed / "inner").mkdir(parents=True)
    os.chmod(closed, 0o700)
    nobody = (65534, 65534)
    assert untraversable_ancestor(closed / "inner" / "data", *nobody) == closed
    os.chmod(closed, 0o711)
    assert untraversable_ancestor(closed / "inner" / "data", *nobody) is None
    assert untraversable_ancestor(base / "not" / "yet" / "there", *nobody) is None
