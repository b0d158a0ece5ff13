"""A real Prometheus server (Debian's package) on a loopback port: for the live demo and the tests."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns a truthy value; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


class PrometheusServer:
    """Starts ``prometheus`` with its own data dir, scraping the given targets every second.

    ``more_jobs`` adds scrape jobs (name → targets); ``rule_groups`` are alerting and recording rule groups
    (a PrometheusRule's ``spec.groups``), evaluated at the scrape interval.
    """

    def __init__(
        self,
        targets: list[str],
        data_dir: Path | None = None,
        extra_args: list[str] | None = None,
        scrape_interval_s: int = 1,
        job: str = "fleet",
        more_jobs: dict[str, list[str]] | None = None,
        rule_groups: list[dict[str, object]] | None = None,
        retention: str = "1d",
    ) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError(
                "the 'prometheus' binary is not on PATH: install Debian's prometheus package "
                "(apt-get install --no-install-recommends prometheus), as .ci/run does"
            )
        self.binary = binary
        self.workdir = Path(tempfile.mkdtemp(prefix="gpuscale-prom-"))
        self.data_dir = data_dir or self.workdir / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = extra_args or []
        self.scrape_interval_s = scrape_interval_s
        self.jobs = {job: targets, **(more_jobs or {})}
        self.rule_groups = rule_groups
        self.retention = retention
        self.process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        config = {
            "global": {
                "scrape_interval": f"{self.scrape_interval_s}s",
                "evaluation_interval": f"{self.scrape_interval_s}s",
                "scrape_timeout": f"{self.scrape_interval_s}s",
            },
            "scrape_configs": [
                {"job_name": name, "static_configs": [{"targets": targets}]} for name, targets in self.jobs.items()
            ],
        }
        if self.rule_groups is not None:
            rules = self.workdir / "rules.yml"
            rules.write_text(json.dumps({"groups": self.rule_groups}))
            config["rule_files"] = [str(rules)]
        path = self.workdir / "prometheus.yml"
        path.write_text(json.dumps(config))  # JSON is valid YAML
        return path

    def start(self) -> PrometheusServer:
        config = self._write_config()
        log = (self.workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--storage.tsdb.retention.time={self.retention}",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, timeout=30, what=f"Prometheus ready on {self.url}")
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def query(self, promql: str) -> list[dict[str, object]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=2) as resp:
            result: list[dict[str, object]] = json.load(resp)["data"]["result"]
            return result

    def wait_for_series(self, promql: str, timeout: float = 30) -> list[dict[str, object]]:
        return wait_for(lambda: self.query(promql), timeout=timeout, interval=0.25, what=f"series for {promql}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
