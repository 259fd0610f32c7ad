"""traffic: what the HTTP services accept from the network before any work is done for it: request
paths (paths.py), the client address behind trusted proxies (clients.py) and rate limits (ratelimit.py).
Shared by ingest, origin and the cache nodes; imports nothing of ours (starlette's ASGI types only)."""
