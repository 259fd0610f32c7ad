"""Records the exact request head Debian's Chromium sends for an hls.js segment request to an edge on
another origin, with and without CMCD, into bench/requests/ (the heads bench/edge_protocol_cpu.py
and bench/edge_cmcd_sockets.py send with --request chromium).

As deployed, the web page is on the ingest's origin and the media on the edge's: here a page server
on one loopback port (http.server: the page, hls.js from web/static/vendor, web/static/qoe.js) and a
raw TCP server on another that records every request head byte for byte and answers it from a small
fMP4 HLS stream made with ffmpeg, a master playlist over one video rendition (200, Content-Length,
`Access-Control-Allow-Origin: *`, keep-alive).
bench/chromium_request.mjs plays the stream in headless Chromium (playwright-core, /usr/bin/chromium)
with the web page's own hls.js config: CMCD in the query (player.js, qoe.js's hlsCmcd), or none.
Saved: the head of a steady-state media segment request (the third segment: past startup, so its
CMCD has no `su`), with the page's and the media's loopback ports as captured.

    .venv/bin/python bench/capture_chromium_request.py

Needs ffmpeg (or imageio-ffmpeg's), node, web/node_modules (npm ci) and web/static/vendor (npm run build).
"""

from __future__ import annotations

import datetime
import functools
import http.server
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "requests"
SEGMENT = "seg_00003.m4s"  # steady state: the third 4 s segment, past hls.js's startup
# As the stack's masters do: a variant with its bandwidth and codecs (hls.js then sends br, tb and ot).
MASTER = b"""#EXTM3U
#EXT-X-VERSION:7
#EXT-X-STREAM-INF:BANDWIDTH=730000,RESOLUTION=320x180,CODECS="avc1.64000d"
360p/index.m3u8
"""
PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>capture</title><script src="/hls.min.js"></script></head>
<body><video id="v" muted playsinline width="640" height="360"></video>
<script type="module">
import { hlsCmcd, newSessionId } from "/qoe.js";
const video = document.getElementById("v");
window.state = { fatal: [] };
// As web/static/player.js configures hls.js (CMCD in the query), or the same without CMCD.
window.play = (src, cmcd) => {
  const config = { capLevelToPlayerSize: false };
  if (cmcd) config.cmcd = hlsCmcd(newSessionId(), "a1b2c3");
  const hls = new Hls(config);
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) state.fatal.push(d.details); });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch((e) => state.fatal.push(String(e))); });
  hls.loadSource(src);
  hls.attachMedia(video);
};
window.ready = true;
</script></body></html>"""
PAGE_FILES = {
    "/hls.min.js": ROOT / "web" / "static" / "vendor" / "hls.min.js",
    "/qoe.js": ROOT / "web" / "static" / "qoe.js",
}
TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".m4s": "video/iso.segment", ".mp4": "video/mp4"}


def ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg  # the venv's, when the system has none

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def make_stream(directory: Path) -> None:
    """A 24 s fMP4 HLS stream of 4 s segments (seg_00001.m4s...), its init segment and a master playlist."""
    subprocess.run(
        [ffmpeg(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=25", "-t", "24",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "100", "-f", "hls", "-hls_time", "4",
         "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
         "-start_number", "1", "-hls_segment_filename", str(directory / "seg_%05d.m4s"),
         str(directory / "index.m3u8")],
        check=True,
    )  # fmt: skip
    (directory / "master.m3u8").write_bytes(MASTER)


class PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802  # http.server's name
        if self.path in PAGE_FILES:
            body, kind = PAGE_FILES[self.path].read_bytes(), "text/javascript"
        elif self.path == "/":
            body, kind = PAGE, "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  # http.server's signature
        pass


def media_connection(conn: socket.socket, directory: Path, heads: list[bytes]) -> None:
    """Reads request heads off one keep-alive connection, records each as sent, answers from `directory`."""
    buffer = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            head += b"\r\n\r\n"
            heads.append(head)  # GETs only: no body follows
            name = head.split(b" ", 2)[1].split(b"?", 1)[0].rsplit(b"/", 1)[-1].decode()
            file = directory / name
            if file.is_file():
                body, status = file.read_bytes(), b"200 OK"
            else:
                body, status = b"", b"404 Not Found"
            kind = TYPES.get(file.suffix, "application/octet-stream").encode()
            conn.sendall(
                b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nAccess-Control-Allow-Origin: *\r\n\r\n%s"
                % (status, kind, len(body), body)
            )


def serve_media(listener: socket.socket, directory: Path, heads: list[bytes]) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:  # closed: capture over
            return
        threading.Thread(target=media_connection, args=(conn, directory, heads), daemon=True).start()


def capture(cmcd: bool, directory: Path, page_url: str) -> tuple[bytes, str]:
    """(the head of the request for SEGMENT, Chromium's version) of one playback."""
    heads: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=serve_media, args=(listener, directory, heads), daemon=True).start()
    src = f"http://127.0.0.1:{listener.getsockname()[1]}/a1b2c3/master.m3u8"
    try:
        done = subprocess.run(
            ["node", str(ROOT / "bench" / "chromium_request.mjs"), page_url, src, "on" if cmcd else "off", "13"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        listener.close()
    if done.returncode != 0:
        raise RuntimeError(f"playback failed: {done.stderr}")
    wanted = [head for head in heads if head.split(b" ", 2)[1].split(b"?")[0].endswith(SEGMENT.encode())]
    if len(wanted) != 1:
        raise RuntimeError(f"{len(wanted)} requests for {SEGMENT} among {[h.split(b' ', 2)[1] for h in heads]}")
    return wanted[0], done.stdout.strip()


def headers(head: bytes) -> list[bytes]:
    """The head's header lines but Host (the media server's port changes between captures)."""
    return [line for line in head.split(b"\r\n")[1:] if not line.lower().startswith(b"host:")]


def main() -> None:
    directory = Path(tempfile.mkdtemp())
    make_stream(directory)
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(PageHandler))
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    page_url = f"http://127.0.0.1:{pages.server_address[1]}/"
    try:
        plain, version = capture(False, directory, page_url)
        with_cmcd, _ = capture(True, directory, page_url)
    finally:
        pages.shutdown()
    if headers(plain) != headers(with_cmcd):  # hls.js puts CMCD in the query: nothing else may differ
        raise RuntimeError(f"the heads differ beyond the target:\n{plain!r}\n{with_cmcd!r}")
    OUT.mkdir(exist_ok=True)
    (OUT / "chromium_hls_segment.http").write_bytes(plain)
    (OUT / "chromium_hls_segment_cmcd.http").write_bytes(with_cmcd)
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Chromium {version}, {today}: {len(plain)} bytes without CMCD, {len(with_cmcd)} with")
    print(with_cmcd.decode("latin-1"))


if __name__ == "__main__":
    main()
