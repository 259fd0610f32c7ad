"""Ingest: a TUS 1.0.0 server that stages originals in object storage, plus the asset API.

app.py composes it; routes.py is the TUS endpoint and assets.py the asset API; protocol.py the header
grammar; store.py the storage contract, with stores/filesystem.py and stores/s3.py; locks.py the
per-upload locks; completion.py what happens when the last byte is in.
"""
