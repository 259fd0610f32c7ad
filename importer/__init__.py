"""Import from a URL: a guarded, resumable download into staging, then the same checks and job as an upload."""
