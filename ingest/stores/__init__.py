"""Backends of the upload store (ingest/store.py): local filesystem and S3 multipart."""
