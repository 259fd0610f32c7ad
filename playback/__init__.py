"""playback: who may play an asset. Signed playback tokens (signing.py: HMAC over asset, expiry and
an optional client address), the access policy that decides which assets need one and checks it
(access.py), and the token errors (errors.py, all 403).

Used by the origin and the cache nodes, which enforce it, and by the asset API (ingest.assets), which
signs playback URLs. Imports httpsemantics (the errors' base class) and, lazily, the catalog.
"""
