"""Composition root: wires ingest, transcoder, origin and cdn_edge together and owns the CLI."""
