"""ActiveMQ Classic as a benchmark target: Debian's `activemq` package, run by the generator.

Debian's build has no WebSocket transport, so the comparison is STOMP over TCP: one
loopback-only `stomp+nio://` connector on `ACTIVEMQ_STOMP_PORT` (61613 is stompim's,
61614 RabbitMQ's STOMP listener, 16613 the bench node's), persistence off (the
generic scenarios are non-persistent topics on every target), JMX and advisory
topics off, and an explicit heap (`-Xms1g -Xmx1g`).

The system service and its instances are left alone: the broker runs from a config
rendered into the bench work folder (`work_dir()/activemq`) as a child of the
generator, and is stopped when the run ends.

Call order: `ensure_installed()` (apt-get only when the jar is missing), then
`async with start_activemq(opts) as target: ...`; `render_config()` is pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from xml.sax.saxutils import quoteattr

from bench.measure import log
from bench.targets import (
    Options,
    Target,
    TargetUnavailable,
    port_open,
    stop_process,
    wait_port,
    work_dir,
)
from bench.transport import Endpoint

ACTIVEMQ_HOME = Path("/usr/share/activemq")
ACTIVEMQ_JAR = ACTIVEMQ_HOME / "bin" / "activemq.jar"
ACTIVEMQ_STOMP_PORT = 61623
HEAP = "1g"


def render_config(port: int, data_dir: Path) -> str:
    """The broker XML: one loopback STOMP NIO connector, nothing persisted."""
    uri = f"stomp+nio://127.0.0.1:{port}?transport.closeAsync=false"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- written by stompim's bench/activemq.py; rewritten on every run -->
<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans
    http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
    http://activemq.apache.org/schema/core
    http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="stompim-bench"
          useJmx="false" persistent="false" advisorySupport="false"
          dataDirectory={quoteattr(str(data_dir))}>
    <transportConnectors>
      <transportConnector name="stomp" uri={quoteattr(uri)}/>
    </transportConnectors>
  </broker>
</beans>
"""


def java_command(config: Path, base: Path) -> list[str]:
    """The JVM command line: fixed heap, the Debian jar, our config."""
    return [
        shutil.which("java") or "java",
        f"-Xms{HEAP}",
        f"-Xmx{HEAP}",
        f"-Dactivemq.home={ACTIVEMQ_HOME}",
        f"-Dactivemq.base={base}",
        f"-Dactivemq.conf={base}",
        f"-Dactivemq.data={base / 'data'}",
        "-jar",
        str(ACTIVEMQ_JAR),
        "start",
        f"xbean:file:{config}",
    ]


def installed_version() -> str | None:
    r = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "activemq"], capture_output=True, text=True
    )
    return r.stdout.strip() or None if r.returncode == 0 else None


def ensure_installed() -> list[str]:
    """Install Debian's `activemq` (and a JRE through its dependencies) if it is missing.

    Idempotent: nothing happens when the jar is there. Returns what was done."""
    if ACTIVEMQ_JAR.exists():
        return []
    log("  activemq: apt-get install activemq ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    r = subprocess.run(
        ["apt-get", "install", "-y", "-q", "activemq"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    if r.returncode != 0:  # the package lists may be missing on a fresh machine
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=900)
        r = subprocess.run(
            ["apt-get", "install", "-y", "-q", "activemq"],
            capture_output=True, text=True, env=env, timeout=900,
        )
    if r.returncode != 0 or not ACTIVEMQ_JAR.exists():
        raise TargetUnavailable(f"apt-get install activemq failed: {r.stderr.strip()[-300:]}")
    return ["apt-get install -y activemq"]


@contextlib.asynccontextmanager
async def start_activemq(opts: Options) -> AsyncIterator[Target]:
    """ActiveMQ started from a freshly rendered config; stopped (SIGTERM, then kill) on exit."""
    done = await asyncio.to_thread(ensure_installed)
    if port_open(ACTIVEMQ_STOMP_PORT):
        raise TargetUnavailable(f"port {ACTIVEMQ_STOMP_PORT} is busy")
    base = work_dir() / "activemq"
    shutil.rmtree(base / "data", ignore_errors=True)
    base.mkdir(parents=True, exist_ok=True)
    config = base / "activemq.xml"
    config.write_text(render_config(ACTIVEMQ_STOMP_PORT, base / "data"))
    cmd = java_command(config, base)
    logf = open(base / "activemq.log", "wb")
    proc = subprocess.Popen(cmd, cwd=base, stdout=logf, stderr=subprocess.STDOUT)
    try:
        try:
            await wait_port(ACTIVEMQ_STOMP_PORT, proc, 90)
        except TargetUnavailable as exc:
            logf.flush()
            tail = (base / "activemq.log").read_text(errors="replace")[-1500:]
            raise TargetUnavailable(f"ActiveMQ did not start: {exc}; log tail:\n{tail}") from None
        version = installed_version()
        yield Target(
            "activemq",
            None,
            Endpoint(f"tcp://127.0.0.1:{ACTIVEMQ_STOMP_PORT}"),
            proc.pid,
            topic="/topic/bench",
            notes=[
                *done,
                f"activemq {version} (Debian package), {' '.join(cmd[1:3])}",
                f"config {config}: stomp+nio://127.0.0.1:{ACTIVEMQ_STOMP_PORT}, persistent=false,"
                " useJmx=false, advisorySupport=false",
            ],
        )
    finally:
        stop_process(proc)
        logf.close()
