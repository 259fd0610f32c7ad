"""The queue contract between ingest and the transcoder workers: task and queue names, enqueueing,
the Celery app factory and broker settings (celery_app.py, settings.py), and the embedded broker
(filesystem_broker.py). Imports nothing of the transcoder."""
