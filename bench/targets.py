"""The three brokers a scenario can run against, each started (or prepared) by the generator.

- `stompim`: `.venv/bin/python -m stompim serve` as a subprocess, ports and database
  from `STOMPIM_*` environment overrides (bench ports by default, so a node someone
  runs on 8080/8081/61613 is left alone).
- `rabbitmq`: the already-installed RabbitMQ service with Web-STOMP. `prepare_rabbitmq()`
  is idempotent: it moves RabbitMQ's STOMP TCP listener to 61614 (61613 is ours),
  enables `rabbitmq_web_stomp`, raises the open-file limit of the service, and
  restarts RabbitMQ only if one of those had to change.
- `raw`: `bench.raw_server` (websockets + uvloop forwarding ceiling) as a subprocess.
- `activemq`: ActiveMQ Classic over STOMP/TCP only, started from bench/activemq.py.

Call order: `async with start_target(name, opts) as target: ...` — subprocesses are
terminated (SIGTERM, then SIGKILL) on exit, whatever happened inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.measure import log
from bench.transport import Endpoint

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable

RABBIT_CONF = Path("/etc/rabbitmq/rabbitmq.conf")
RABBIT_DEFAULTS = Path("/etc/default/rabbitmq-server")
RABBIT_WS_PORT = 15674
RABBIT_STOMP_PORT = 61614
RABBIT_NOFILE = 20000
_MARK = "# added by stompim bench (bench/targets.py)"


def work_dir() -> Path:
    """Where the anchors keep configs, data and venvs: outside the git tree, kept between
    runs (a Synapse venv takes minutes to build). `BENCH_WORK` overrides it."""
    return Path(os.environ.get("BENCH_WORK", "/var/tmp/stompim-bench"))


class TargetUnavailable(RuntimeError):
    """The target cannot be started here; the scenario records it as not available."""


@dataclass
class Target:
    name: str
    ws: Endpoint | None  # None: no WebSocket transport (ActiveMQ's Debian build)
    tcp: Endpoint | None
    pid: int | None
    http: str | None = None  # REST base URL (stompim only)
    topic: str = "/topic/bench"
    notes: list[str] = field(default_factory=list)

    def endpoint(self, transport: str) -> Endpoint:
        if transport == "tcp":
            if self.tcp is None:
                raise TargetUnavailable(f"{self.name} has no STOMP TCP listener")
            return self.tcp
        if self.ws is None:
            raise TargetUnavailable(f"{self.name} has no WebSocket transport")
        return self.ws


@dataclass(frozen=True)
class Options:
    """Ports and database for the stompim node the generator starts."""

    ws_port: int = 18081
    tcp_port: int = 16613
    http_port: int = 18080
    raw_port: int = 18090
    database_url: str = ""  # empty: a fresh SQLite file in a temp dir
    anonymous: bool = True
    extra_env: tuple[tuple[str, str], ...] = ()
    setup_rabbitmq: bool = True
    profile_dir: str = ""  # if set, stompim runs under `py-spy record` into this dir
    profile_label: str = ""
    module: str = "stompim"  # run as `python -m <module>`; bench.stompim_counted logs batches


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


async def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if proc is not None and proc.poll() is not None:
            raise TargetUnavailable(f"process exited with code {proc.returncode}")
        await asyncio.sleep(0.2)
    raise TargetUnavailable(f"port {port} did not open within {timeout:.0f}s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# -- raw ceiling ------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def start_raw(opts: Options) -> AsyncIterator[Target]:
    if port_open(opts.raw_port):
        raise TargetUnavailable(f"port {opts.raw_port} is busy")
    proc = subprocess.Popen(
        [PYTHON, "-m", "bench.raw_server", "--port", str(opts.raw_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        await wait_port(opts.raw_port, proc, 20)
        url = f"ws://127.0.0.1:{opts.raw_port}/ws"
        yield Target("raw", Endpoint(url), None, proc.pid, topic="/topic/bench")
    finally:
        stop_process(proc)


# -- stompim ----------------------------------------------------------------------------------
def stompim_available() -> str | None:
    """None if `python -m stompim serve` can run here, else the reason it cannot."""
    r = subprocess.run([PYTHON, "-m", "stompim", "serve", "--help"], cwd=ROOT,
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {r.returncode}"
    return None


@contextlib.asynccontextmanager
async def start_stompim(opts: Options) -> AsyncIterator[Target]:
    for p in (opts.ws_port, opts.tcp_port, opts.http_port):
        if port_open(p):
            raise TargetUnavailable(f"port {p} is busy (another stompim running?)")
    tmp = Path(tempfile.mkdtemp(prefix="stompim-bench-"))
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        "STOMPIM_CONFIG": str(ROOT / "config.toml"),
        "STOMPIM_SERVER_HOST": "127.0.0.1",
        "STOMPIM_SERVER_WS_PORT": str(opts.ws_port),
        "STOMPIM_SERVER_TCP_PORT": str(opts.tcp_port),
        "STOMPIM_SERVER_HTTP_PORT": str(opts.http_port),
        "STOMPIM_DATABASE_URL": opts.database_url or f"sqlite:///{tmp}/bench.db",
        "STOMPIM_STOMP_ALLOW_ANONYMOUS": "true" if opts.anonymous else "false",
        "STOMPIM_STOMP_MAX_CONNECTIONS_PER_USER": "100000",
    })
    env.update(dict(opts.extra_env))
    cmd = [PYTHON, "-m", opts.module, "--log-level", "WARNING", "serve"]
    if opts.profile_dir:
        spy = str(Path(PYTHON).parent / "py-spy")
        out = Path(opts.profile_dir) / f"{opts.profile_label or 'stompim'}.txt"
        cmd = [spy, "record", "--format", "raw", "--rate", "200", "--gil", "-o", str(out),
               "--", *cmd]
    logf = open(tmp / "stompim.log", "wb")
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=logf, stderr=subprocess.STDOUT)
    try:
        try:
            await wait_port(opts.ws_port, proc, 60)
            await wait_port(opts.http_port, proc, 10)
        except TargetUnavailable as exc:
            logf.flush()
            tail = (tmp / "stompim.log").read_text(errors="replace")[-1500:]
            raise TargetUnavailable(f"stompim did not start: {exc}; log tail:\n{tail}") from None
        pid = proc.pid
        if opts.profile_dir:  # the node is py-spy's child
            kids = psutil.Process(proc.pid).children()
            pid = kids[0].pid if kids else proc.pid
        target = Target(
            "stompim",
            Endpoint(f"ws://127.0.0.1:{opts.ws_port}/ws"),
            Endpoint(f"tcp://127.0.0.1:{opts.tcp_port}"),
            pid,
            http=f"http://127.0.0.1:{opts.http_port}",
            notes=[f"log {tmp / 'stompim.log'}"],
        )
        if opts.anonymous:
            await _fall_back_to_token(target)
        yield target
    finally:
        if opts.profile_dir:
            # SIGINT to py-spy makes it write the profile and stop the node
            try:
                for kid in psutil.Process(proc.pid).children():
                    kid.send_signal(signal.SIGTERM)
            except psutil.Error:
                pass
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        stop_process(proc)
        logf.close()
        if os.environ.get("BENCH_KEEP_LOGS") != "1":
            shutil.rmtree(tmp, ignore_errors=True)


async def _fall_back_to_token(target: Target) -> None:
    """If the node refuses an anonymous CONNECT, connect as one registered bench user.

    Generic-destination scenarios do not care who the user is; RabbitMQ is likewise
    used with one account (guest). The per-user connection limit is raised by env.
    """
    from bench.imapi import ImApi
    from bench.transport import open_stomp

    try:
        conn = await open_stomp(target.endpoint("ws"))
        conn.close()
        return
    except ConnectionRefusedError as exc:
        reason = str(exc)
    assert target.http is not None
    async with ImApi(target.http) as api:
        user = await api.user(f"benchgen{os.getpid()}", "Bench-pass-123")
    auth = {"Authorization": f"Bearer {user.token}"}
    target.ws = target.endpoint("ws").with_auth(**auth)
    target.tcp = target.tcp.with_auth(**auth) if target.tcp else None
    target.notes.append(f"anonymous CONNECT refused ({reason}); used one registered user's token")
    log(f"  stompim: anonymous CONNECT refused ({reason}); using a registered user's token")


# -- RabbitMQ ---------------------------------------------------------------------------------
def _run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def rabbit_pid() -> int | None:
    for p in psutil.process_iter(["name", "username", "cmdline"]):
        if p.info["name"] == "beam.smp" and "rabbit" in " ".join(p.info["cmdline"] or []):
            return p.pid
    return None


def rabbit_nofile(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return None
    m = re.search(r"Max open files\s+(\d+)", text)
    return int(m.group(1)) if m else None


def _ensure_lines(path: Path, lines: list[str], drop_prefixes: tuple[str, ...]) -> bool:
    """Append `lines` (replacing uncommented lines starting with `drop_prefixes`).

    True if the file changed."""
    text = path.read_text() if path.exists() else ""
    kept = [
        ln for ln in text.splitlines() if not ln.strip().startswith(drop_prefixes) or ln in lines
    ]
    missing = [ln for ln in lines if ln not in kept]
    if not missing and len(kept) == len(text.splitlines()):
        return False
    new = kept + ([_MARK] if _MARK not in kept else []) + missing
    path.write_text("\n".join(new) + "\n")
    return True


def prepare_rabbitmq() -> list[str]:
    """Idempotent RabbitMQ setup for the benchmark; returns what it did (for the report)."""
    if shutil.which("rabbitmqctl") is None:
        raise TargetUnavailable("rabbitmqctl not installed")
    done: list[str] = []
    changed = _ensure_lines(
        RABBIT_CONF,
        [
            f"stomp.listeners.tcp.1 = 127.0.0.1:{RABBIT_STOMP_PORT}",
            "web_stomp.tcp.ip = 127.0.0.1",
            f"web_stomp.tcp.port = {RABBIT_WS_PORT}",
        ],
        ("stomp.listeners.tcp.", "web_stomp.tcp.ip", "web_stomp.tcp.port"),
    )
    if changed:
        done.append(
            f"{RABBIT_CONF}: STOMP TCP listener -> 127.0.0.1:{RABBIT_STOMP_PORT}, "
            f"Web-STOMP -> 127.0.0.1:{RABBIT_WS_PORT}"
        )
    has_defaults = RABBIT_DEFAULTS.exists() or Path("/etc/init.d/rabbitmq-server").exists()
    if has_defaults and _ensure_lines(
        RABBIT_DEFAULTS, [f"ulimit -n {RABBIT_NOFILE}"], ("ulimit -n",)
    ):
        changed = True
        done.append(f"{RABBIT_DEFAULTS}: ulimit -n {RABBIT_NOFILE} (container hard limit)")
    enabled = _run(["rabbitmq-plugins", "list", "-e", "-m"]).stdout.split()
    if "rabbitmq_web_stomp" not in enabled:
        r = _run(["rabbitmq-plugins", "enable", "--offline", "rabbitmq_web_stomp"])
        if r.returncode != 0:
            raise TargetUnavailable(f"cannot enable rabbitmq_web_stomp: {r.stderr.strip()}")
        changed = True
        done.append("rabbitmq-plugins enable --offline rabbitmq_web_stomp")
    pid = rabbit_pid()
    if pid is not None and (rabbit_nofile(pid) or 0) < RABBIT_NOFILE:
        changed = True
    if changed or pid is None or not port_open(RABBIT_WS_PORT):
        log("  rabbitmq: restarting to apply the benchmark settings ...")
        if pid is not None:
            _run(["rabbitmqctl", "stop"], timeout=120)
            for _ in range(100):
                if rabbit_pid() is None:
                    break
                time.sleep(0.3)
        r = _run(["/etc/init.d/rabbitmq-server", "start"], timeout=300)
        done.append("restarted RabbitMQ (rabbitmqctl stop; /etc/init.d/rabbitmq-server start)")
        if r.returncode != 0:
            raise TargetUnavailable(f"RabbitMQ did not start: {r.stdout}{r.stderr}")
    for _ in range(150):
        if port_open(RABBIT_WS_PORT):
            break
        time.sleep(0.2)
    else:
        raise TargetUnavailable(f"RabbitMQ Web-STOMP is not listening on {RABBIT_WS_PORT}")
    pid = rabbit_pid()
    done.append(f"beam.smp pid {pid}, open-file limit {rabbit_nofile(pid) if pid else '?'}")
    return done


@contextlib.asynccontextmanager
async def start_rabbitmq(opts: Options) -> AsyncIterator[Target]:
    notes = await asyncio.to_thread(prepare_rabbitmq) if opts.setup_rabbitmq else []
    pid = rabbit_pid()
    yield Target(
        "rabbitmq",
        Endpoint(f"ws://127.0.0.1:{RABBIT_WS_PORT}/ws", login="guest", passcode="guest"),
        Endpoint(f"tcp://127.0.0.1:{RABBIT_STOMP_PORT}", login="guest", passcode="guest"),
        pid,
        topic="/topic/bench",
        notes=notes,
    )


STARTERS = {"stompim": start_stompim, "rabbitmq": start_rabbitmq, "raw": start_raw}


def start_target(name: str, opts: Options) -> contextlib.AbstractAsyncContextManager[Target]:
    if name == "activemq":  # bench.activemq builds on this module
        from bench.activemq import start_activemq

        return start_activemq(opts)
    return STARTERS[name](opts)
