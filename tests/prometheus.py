"""A real Prometheus (Debian's package) on 127.0.0.1, discovering the local backend's targets
through the supervisor's /sd, for checking the Grafana dashboard's queries."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from harness.services import free_port
from tests.tools import optional_tool

DASHBOARD = Path(__file__).resolve().parent.parent / "helm" / "mlscale" / "dashboards" / "mlscale.json"


def prometheus_binary() -> str | None:
    return optional_tool("prometheus", how="apt-get install prometheus")


def backfill(binary: str, openmetrics: str, workdir: Path) -> Path:
    """A TSDB holding a recorded series (OpenMetrics text, ending ``# EOF``), made by Debian's promtool
    beside ``binary``: what a Prometheus that scraped it would hold."""
    promtool = Path(binary).with_name("promtool")
    source = workdir / "series.om"
    source.write_text(openmetrics)
    data = workdir / "data"
    subprocess.run([str(promtool), "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                   check=True, capture_output=True)  # fmt: skip
    return data


class Prometheus:
    def __init__(self, binary: str, sd_url: str | None, workdir: Path) -> None:
        """Scraping what ``sd_url`` lists, or (None) nothing: serving what ``workdir/data`` holds."""
        self.port = free_port()
        config = workdir / "prometheus.yml"
        scrape = (
            "scrape_configs:\n  - job_name: mlscale\n    http_sd_configs:\n"
            f"      - url: {sd_url}\n        refresh_interval: 2s\n"
            if sd_url
            else ""
        )
        config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n" + scrape)
        self.log = (workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError("prometheus did not become ready in 30 s")

    def query(self, expression: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=10).json()
        assert answer["status"] == "success", (expression, answer)
        return answer["data"]["result"]  # type: ignore[no-any-return]

    def targets_up(self) -> dict[str, int]:
        active = httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        jobs: dict[str, int] = {}
        for target in active:
            if target["health"] == "up":
                jobs[target["labels"]["job"]] = jobs.get(target["labels"]["job"], 0) + 1
        return jobs

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
