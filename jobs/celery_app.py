"""The Celery application: broker wiring and the reliability settings every task relies on, and the
task and queue names ingest enqueues by and the workers consume by."""

from __future__ import annotations

from celery import Celery

from jobs.filesystem_broker import TRANSPORT_PATH
from jobs.settings import BrokerSettings

# Task names are the wire contract with queued messages: they stay as they are whatever the modules
# that implement them are called (transcoder.worker.tasks registers them by these names).
TRANSCODE_TASK = "transcoder.transcode"
# One chunk (or the audio) of a split-and-stitch job: same queue, so any transcode worker takes it.
PART_TASK = "transcoder.transcode_part"
# Requeues jobs orphaned by a dead worker (transcoder.worker.sweeper); light, so never behind an encode.
SWEEP_TASK = "transcoder.sweep_jobs"
# Downloads the source of an asset imported from a URL (importer.tasks), then queues its transcode.
IMPORT_TASK = "importer.import_url"
# Captions generated from speech once an asset is ready (transcoder.speech_captions); light: never behind encodes.
SPEECH_TASK = "transcoder.speech_captions"
TRANSCODE_QUEUE = "transcode"
LIGHT_QUEUE = "light"  # probes, thumbnails, sweeps: never stuck behind long encodes


def make_celery(broker: BrokerSettings) -> Celery:
    app = Celery("vodstack")
    conf: dict[str, object] = {
        "broker_url": broker.url,
        "task_ignore_result": True,
        # A job is acknowledged only when it finished: on RabbitMQ or Redis a worker killed mid-encode
        # leaves its message to another; the embedded broker has none to leave (the sweeper requeues).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": TRANSCODE_QUEUE,
        "task_routes": {
            TRANSCODE_TASK: {"queue": TRANSCODE_QUEUE},
            PART_TASK: {"queue": TRANSCODE_QUEUE},
            SWEEP_TASK: {"queue": LIGHT_QUEUE},
            IMPORT_TASK: {"queue": LIGHT_QUEUE},
            SPEECH_TASK: {"queue": LIGHT_QUEUE},
        },
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "task_serializer": "json",
        "accept_content": ["json"],
    }
    if broker.url.startswith("filesystem://"):
        for sub in ("queue", "processed", "control"):
            (broker.folder / sub).mkdir(parents=True, exist_ok=True)
        queue_dir = str(broker.folder / "queue")
        # kombu's filesystem transport with its cross-process races closed (see that module).
        conf["broker_transport"] = TRANSPORT_PATH
        conf["broker_transport_options"] = {
            "data_folder_in": queue_dir,
            "data_folder_out": queue_dir,
            "processed_folder": str(broker.folder / "processed"),
            # Exchange tables (broadcast, pidbox); kombu's default is ./control in the working directory.
            "control_folder": str(broker.folder / "control"),
            "store_processed": False,
            "polling_interval": 0.5,
        }
    elif broker.url.startswith("redis"):
        # Unacked jobs of a dead worker come back after this; longer than any encode step we expect.
        conf["broker_transport_options"] = {"visibility_timeout": 3600}
    app.conf.update(conf)
    return app


def enqueue_transcode(app: Celery, job_id: str) -> None:
    """Queue one transcode job; call after the transaction that created the job has committed."""
    app.send_task(TRANSCODE_TASK, args=[job_id], queue=TRANSCODE_QUEUE)


def enqueue_speech_captions(app: Celery, asset_id: str) -> None:
    """Queue speech recognition for a ready asset (the task does nothing when it is not wanted)."""
    app.send_task(SPEECH_TASK, args=[asset_id], queue=LIGHT_QUEUE)


def enqueue_part(app: Celery, job_id: str) -> None:
    """Queue one part of a split job; call after the transaction that recorded it has committed."""
    app.send_task(PART_TASK, args=[job_id], queue=TRANSCODE_QUEUE)


def enqueue_import(app: Celery, asset_id: str) -> None:
    """Queue the download of an imported asset's source; call after its asset was committed."""
    app.send_task(IMPORT_TASK, args=[asset_id], queue=LIGHT_QUEUE)
