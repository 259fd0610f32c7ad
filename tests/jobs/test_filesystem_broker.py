"""The embedded broker never shows another process a half-made exchange table or message.

Each race is replayed deterministically: the other process's step is run at the exact moment the
stock kombu transport leaves an empty file behind (both tests fail on kombu 5.7's own Channel).
A concurrent start of several binders checks the same on real processes.
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

from jobs import filesystem_broker
from jobs.celery_app import make_celery
from jobs.settings import BrokerSettings


def options(folder: Path) -> dict[str, Any]:
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


def broker(folder: Path) -> Connection:
    """A connection to the embedded broker in `folder`, on this transport."""
    return Connection("filesystem://", transport=filesystem_broker.TRANSPORT_PATH, transport_options=options(folder))


@pytest.fixture
def connect(tmp_path: Path) -> Iterator[Any]:
    opened: list[Connection] = []

    def channel() -> Any:
        conn = broker(tmp_path / "broker")
        opened.append(conn)
        return conn.default_channel

    yield channel
    for conn in opened:
        conn.release()


def test_celery_app_uses_this_transport_for_the_embedded_broker(tmp_path: Path) -> None:
    app = make_celery(BrokerSettings(url="filesystem://", folder=tmp_path / "broker"))
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, filesystem_broker.Transport)


def test_bind_to_a_table_another_process_has_just_created(connect: Any, tmp_path: Path) -> None:
    # Another worker has created the table file and not yet written it (kombu's open-then-lock window).
    chan = connect()
    table = Path(chan.control_folder) / "celery.pidbox.exchange"
    table.write_bytes(b"")
    assert chan.get_table("celery.pidbox") == []  # a publisher reading it now: no bindings yet, no error

    chan.exchange_declare("celery.pidbox", type="fanout")
    chan.queue_declare("worker-a.pidbox")
    chan.queue_bind("worker-a.pidbox", "celery.pidbox", "")
    other = connect()
    other.queue_declare("worker-b.pidbox")
    other.queue_bind("worker-b.pidbox", "celery.pidbox", "")
    assert sorted(q.queue for q in chan.get_table("celery.pidbox")) == ["worker-a.pidbox", "worker-b.pidbox"]

    other._delete("worker-b.pidbox", "celery.pidbox", "", "")
    assert [q.queue for q in chan.get_table("celery.pidbox")] == ["worker-a.pidbox"]


def test_a_consumer_never_takes_a_message_still_being_written(connect: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    producer, consumer = connect(), connect()
    seen: list[object] = []
    real_open = open

    class PollingBeforeWrite:
        """The producer's message file: the consumer polls between its creation and its content."""

        def __init__(self, f: Any) -> None:
            self.f = f

        def __enter__(self) -> PollingBeforeWrite:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.f, name)

        def write(self, data: bytes) -> int:
            try:
                seen.append(consumer._get("transcode"))
            except Empty:
                seen.append("empty")
            return self.f.write(data)

    def interposed_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        f = real_open(path, mode, *args, **kwargs)
        return PollingBeforeWrite(f) if "w" in mode and ".msg" in str(path) else f

    monkeypatch.setattr("builtins.open", interposed_open)
    producer._put("transcode", {"body": "job-1"})
    monkeypatch.undo()

    assert seen == ["empty"]
    assert consumer._get("transcode") == {"body": "job-1"}
    with pytest.raises(Empty):
        consumer._get("transcode")


def test_an_unreadable_message_is_dropped_and_the_next_one_delivered(
    connect: Any, caplog: pytest.LogCaptureFixture
) -> None:
    chan = connect()
    queue_dir = Path(chan.data_folder_in)
    (queue_dir / "0000_torn.transcode.msg").write_bytes(b"")  # a file a power cut left empty
    (queue_dir / "0001_garbled.transcode.msg").write_bytes(b'{"body": ')
    chan._put("transcode", {"body": "job-2"})
    assert chan._get("transcode") == {"body": "job-2"}
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "dropped unreadable message 0000_torn.transcode.msg from the broker folder (0 bytes)",
        "dropped unreadable message 0001_garbled.transcode.msg from the broker folder (9 bytes)",
    ]
    with pytest.raises(Empty):
        chan._get("transcode")


_TOGETHER: Any = None  # in a pool worker: the barrier every worker of its pool meets before binding


def _meet_at(barrier: Any) -> None:
    global _TOGETHER
    _TOGETHER = barrier


def _bind_many(args: tuple[str, str]) -> None:
    folder, name = args
    conn = broker(Path(folder))
    try:
        exchange = Exchange("celery.pidbox", type="fanout")
        queue = Queue(name, exchange=exchange)(conn.default_channel)
        _TOGETHER.wait(120)  # every worker holds its connection: all eight bind at once
        queue.declare()
    finally:
        conn.release()


def _consume_all(args: tuple[str, int]) -> list[int]:
    folder, _ = args
    conn = broker(Path(folder))
    got = []
    try:
        chan = conn.default_channel
        while True:
            try:
                got.append(chan._get("transcode")["n"])
            except Empty:
                return got
    finally:
        conn.release()


def test_competing_consumers_take_each_message_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    # The system temp directory on another filesystem where there is one: kombu's own _get moves
    # messages there, which is then a copy and an unlink that two consumers can both perform.
    shm = Path("/dev/shm")
    if shm.is_dir():
        other_fs = Path(tempfile.mkdtemp(prefix="vodstack-test-", dir=shm))
        request.addfinalizer(lambda: shutil.rmtree(other_fs, ignore_errors=True))
        monkeypatch.setenv("TMPDIR", str(other_fs))
    folder = tmp_path / "broker"
    producer = broker(folder)
    try:
        chan = producer.default_channel
        for n in range(400):
            chan._put("transcode", {"n": n})
    finally:
        producer.release()
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        taken = [n for got in pool.map(_consume_all, [(str(folder), i) for i in range(4)]) for n in got]
    assert sorted(taken) == list(range(400))
    assert not list((folder / "processed").iterdir())


def test_workers_starting_together_all_bind(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    # One pool for every round (spawning eight interpreters is most of the cost); a barrier makes its
    # eight workers bind at the same moment each round, which fresh pools left to their start-up times.
    # Queue names are new each round: kombu keeps the bindings a process made in its transport's
    # class-wide BrokerState and skips binding a name again, whatever the folder.
    with ctx.Pool(8, initializer=_meet_at, initargs=(ctx.Barrier(8),)) as pool:
        for round_ in range(5):
            folder = tmp_path / f"round-{round_}"
            options(folder)
            names = [f"worker-{round_}-{i}.pidbox" for i in range(8)]
            pool.map(_bind_many, [(str(folder), name) for name in names], chunksize=1)
            conn = broker(folder)
            try:
                bound = {q.queue for q in conn.default_channel.get_table("celery.pidbox")}
            finally:
                conn.release()
            assert bound == set(names)


def test_the_installed_kombu_is_the_one_the_broker_was_verified_against() -> None:
    """The broker overrides private methods of kombu's filesystem Channel: an upgrade must be read again."""
    installed = version("kombu")
    assert installed.split(".")[:2] == filesystem_broker.VERIFIED_KOMBU.split("."), (
        f"kombu {installed} is installed, but transcoder/filesystem_broker.py was verified against kombu "
        f"{filesystem_broker.VERIFIED_KOMBU}.x only. Re-verify its overrides of the private Channel methods "
        "_put, _get, _queue_bind and _delete (and get_table) against kombu/transport/filesystem.py of the new "
        "release, run tests/jobs/test_filesystem_broker.py, then update VERIFIED_KOMBU and the kombu and "
        "celery bounds in pyproject.toml."
    )
