"""Issue 31's CLI inputs: each one line and exit 2, never a traceback, a hang or a stray run folder."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from harness.services import IMAGES
from mlscale.cli import app
from mlscale.net import free_port

runner = CliRunner()


def loadtest(tmp_path: Path, *args: str, workload: str = "1,1", path: Path | None = None) -> tuple[int, str]:
    if path is None:
        path = tmp_path / "w.txt"
        path.write_text(workload)
    result = runner.invoke(
        app,
        ["loadtest", str(path), *args, "--runs-dir", str(tmp_path / "runs"), "--no-live"],
        env={"COLUMNS": "200"},
    )
    return result.exit_code, result.output


def one_line_exit_2(code: int, output: str) -> str:
    assert code == 2, output
    assert "Traceback" not in output
    return " ".join(output.split())


def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.jpg").write_bytes((IMAGES / "chelsea.png").read_bytes())
    return folder


def test_an_image_that_cannot_be_read(tmp_path: Path) -> None:
    folder = image_folder(tmp_path)
    (folder / "b.jpg").symlink_to("/proc/self/mem")  # a regular file whose read fails, even for root
    text = one_line_exit_2(*loadtest(tmp_path, "--images", str(folder)))
    assert "b.jpg: cannot be read" in text


def test_an_image_of_200_megapixels(tmp_path: Path) -> None:
    folder = image_folder(tmp_path)
    Image.new("1", (20_000, 10_000)).save(folder / "huge.png")
    text = one_line_exit_2(*loadtest(tmp_path, "--images", str(folder)))
    assert "huge.png: too many pixels" in text


@pytest.mark.parametrize("url", ["http://[::1", "ftp://x", "http://", "http://h:99999"])
def test_a_dispatcher_url_that_is_not_one(tmp_path: Path, url: str) -> None:
    text = one_line_exit_2(*loadtest(tmp_path, "--dispatcher", url))
    assert "--dispatcher" in text
    assert repr(url) in text


def test_a_listen_port_in_use_leaves_no_run_folder(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        text = one_line_exit_2(*loadtest(tmp_path, "--listen", f"127.0.0.1:{port}", "--capacity", "1"))
    assert f"--listen 127.0.0.1:{port}" in text
    assert "in use" in text
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_workload_of_two_billion_requests_is_refused_before_it_is_built(tmp_path: Path) -> None:
    text = one_line_exit_2(*loadtest(tmp_path, workload="\n".join(["1000000"] * 2000)))
    assert "2,000,000,000 requests" in text
    assert "the limit is 500,000" in text
    assert "--max-planned" in text


def test_a_fifo_as_the_workload_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def unblock() -> None:  # were it read, the test would end (failing) rather than hang
        with open(fifo, "w"):
            pass

    rescue = threading.Timer(10, unblock)
    rescue.start()
    try:
        text = one_line_exit_2(*loadtest(tmp_path, path=fifo))
    finally:
        rescue.cancel()
    assert "not a regular file" in text


@pytest.mark.parametrize(
    ("rates", "problem"),
    [("1e999", "1e999 is not a finite number"), ("１０", "'１０' is not a number"), ("-1", "-1 is negative")],
)
def test_rates_are_ascii_finite_numbers(tmp_path: Path, rates: str, problem: str) -> None:
    text = one_line_exit_2(*loadtest(tmp_path, workload=rates))
    assert problem in text
