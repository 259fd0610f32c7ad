"""The worker's job plumbing: Celery tasks (tasks.py), the sweeper of orphaned jobs (sweeper.py), an
attempt's fencing (attempt.py) and the metrics exporter (exporter.py)."""
