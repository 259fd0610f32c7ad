"""The web page of the stack: upload (TUS, resumable), asset list, player (hls.js / dash.js).

Served by the ingest service at `/` (see app.create_web_app); the front-end libraries are vendored
from npm into static/vendor at install time (`npm ci && npm run build` in this directory).
"""
