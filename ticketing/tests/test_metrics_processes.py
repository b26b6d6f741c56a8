"""Metrics of several processes (gunicorn workers, a Celery pool) in the shipped
deployment: counted in one process, served by another through
PROMETHEUS_MULTIPROC_DIR; gunicorn.conf.py's hooks; the worker's own endpoint."""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ticketing import metrics

BASE_DIR = Path(__file__).resolve().parents[2]
TOKEN = "metrics-test-token"

# What a Celery pool child or another gunicorn worker records, in a process of its own.
COUNT_ELSEWHERE = """
from ticketing import metrics
metrics.TASKS.labels(task="tests.elsewhere", outcome="succeeded").inc(3)
metrics.external_call_observed("eventbrite", 0.2, "unreachable")
"""


def _count_in_another_process(directory: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run(
        [sys.executable, "-c", COUNT_ELSEWHERE], cwd=BASE_DIR, env=env, check=True
    )


def _value(text: str, name: str, **labels) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


@pytest.fixture
def multiproc_dir(tmp_path, monkeypatch):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    return directory


@pytest.mark.django_db
def test_counts_of_other_processes_are_added_up_by_metrics(
    client, settings, multiproc_dir
):
    settings.METRICS_TOKEN = TOKEN
    _count_in_another_process(multiproc_dir)
    _count_in_another_process(multiproc_dir)

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    text = response.content.decode()
    assert response.status_code == 200
    assert (
        _value(
            text,
            "ticketing_celery_tasks_total",
            task="tests.elsewhere",
            outcome="succeeded",
        )
        == 6.0
    )
    assert (
        _value(
            text,
            "ticketing_external_call_failures_total",
            platform="eventbrite",
            reason="unreachable",
        )
        == 2.0
    )
    assert 'ticketing_backlog_depth{backlog="outbox"}' in text  # read at scrape time


def test_gunicorn_empties_the_directory_at_start_and_forgets_exited_workers(
    multiproc_dir,
):
    hooks = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))
    (multiproc_dir / "counter_999.db").write_bytes(b"left by the previous start")

    hooks["on_starting"](None)

    assert list(multiproc_dir.iterdir()) == []
    _count_in_another_process(multiproc_dir)
    live = multiproc_dir / "gauge_livesum_4242.db"
    live.write_bytes(b"")
    hooks["child_exit"](None, SimpleNamespace(pid=4242))
    assert not live.exists()
    assert any(path.name.startswith("counter_") for path in multiproc_dir.iterdir())


def test_a_process_started_before_the_directory_exists_makes_it(tmp_path):
    directory = tmp_path / "not-made-yet"
    _count_in_another_process(directory)  # a worker starting in a fresh container
    assert any(path.name.startswith("counter_") for path in directory.iterdir())


def test_gunicorn_hooks_do_nothing_without_the_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    hooks = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))
    hooks["on_starting"](None)
    hooks["child_exit"](None, SimpleNamespace(pid=4242))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_worker_serves_its_pools_metrics_on_its_port(settings, multiproc_dir):
    settings.METRICS_WORKER_PORT = _free_port()
    settings.METRICS_WORKER_ADDR = "127.0.0.1"
    (multiproc_dir / "counter_999.db").write_bytes(b"left by the previous start")

    server = metrics.worker_metrics_serve()
    try:
        _count_in_another_process(multiproc_dir)  # a pool child
        url = f"http://127.0.0.1:{settings.METRICS_WORKER_PORT}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()

    assert (
        _value(
            text,
            "ticketing_celery_tasks_total",
            task="tests.elsewhere",
            outcome="succeeded",
        )
        == 3.0
    )
    assert "ticketing_backlog" not in text  # the database is the web's to read
    assert not (multiproc_dir / "counter_999.db").exists()


def test_a_worker_serves_nothing_without_a_port(settings):
    settings.METRICS_WORKER_PORT = 0
    assert metrics.worker_metrics_serve() is None
