"""httpsemantics: the pieces of HTTP semantics (RFC 9110, RFC 9111) that the origin and the cache nodes
answer alike, so origin, shield and edge agree on every case: byte ranges (ranges.py), conditional
requests (conditional.py), an object's kind, Content-Type and Cache-Control (caching.py), CORS for media
(cors.py) and the errors they raise with their statuses (errors.py).

Named after RFC 9110, "HTTP Semantics"; `http` would shadow the standard library. Pure values in and
out, except cors.py, an ASGI middleware. Imports nothing of ours.
"""
