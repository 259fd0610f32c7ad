"""Lifecycle tiering of stored media (hot, warm, cold): the tier index in the catalog, the object
store that enforces it, and the lifecycle policy. Above both `storage` and `catalog`, which know
nothing of it."""
