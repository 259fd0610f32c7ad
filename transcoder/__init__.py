"""Celery + FFmpeg workers: probe an original, encode an aligned ABR ladder, publish HLS/DASH.

pipeline.py     one job as plain steps (orchestration only)
settings.py     TranscoderSettings; errors.py the worker's errors; metrics.py its Prometheus metrics
worker/         Celery tasks, the sweeper, the exporter, attempt fencing, the job's catalog bookkeeping
encode/         ladder planning, ffmpeg argv, the ffmpeg runner, progress, previews, reading the original
package/        fMP4 read-back (boxes, fmp4, outputs), verification, progressive and final publishing
split/          split-and-stitch: chunks, the split job, its parts, the join
"""
