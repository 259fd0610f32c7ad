"""Thumbnails and animated previews of a published asset through a real edge and shield (uvicorn, the
edge's own HTTP protocol) in front of a real origin: each thumbnail is the frame of the source at its
time (PSNR against an ffmpeg seek of the original, scaled the same way, and below the floor against
the frames beside it), each second request is an edge hit, each time its own object."""

from __future__ import annotations

import io
import math
import re
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import httpx
import pytest

from cdn_edge.app import create_app as create_edge
from origin.app import create_app as create_origin
from storage.filesystem import FilesystemObjectStore
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import Instrumented, edge_settings
from tests.images.conftest import FPS, SECONDS, Published
from tests.media import ffmpeg_exe

pytestmark = pytest.mark.ffmpeg

# Times of the test: segment starts and ends (2 s segments), inside frames, the first and the very end.
# 1.98 lies in segment 1's last frame (1.96-2.00): its first frame at or after is 2.00, in segment 2.
TIMES = (0.0, 0.53, 1.98, 2.01, 3.33, 4.5, 5.97, 6.1, 7.7, 8.0)
FRAME = 1 / FPS
# PSNR floor, dB. Measured here: the frame at the time scores 33.5-40 dB (after the ladder's x264
# encode and JPEG), its neighbours one frame away 20.7-24.7 dB (testsrc2 moves every frame): 30 dB
# tells them apart with 3 dB to spare on either side.
FLOOR = 30.0
WIDTH = 320
ANIMATED_FLOOR = 24.0


@pytest.fixture(scope="module")
def edge(published: Published, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Instrumented]]:
    """The URL of an edge, behind a shield, behind the origin (each a real server); the origin counted."""
    tmp = tmp_path_factory.mktemp("nodes")
    origin = Instrumented(
        create_origin(published.origin_settings(), store=FilesystemObjectStore(published.root / "objects"))
    )
    with serving(origin) as o:
        with serving(create_edge(edge_settings(tmp, "shield", "shield", o.url))) as shield:
            with serving(create_edge(edge_settings(tmp, "edge", "edge", shield.url))) as e:
                yield e.url, origin


def _reference(source: Path, time: float, out: Path, width: int = WIDTH) -> Path:
    """The first frame of the original at or after `time`, scaled as the image."""
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-ss", f"{time:.3f}", "-i", str(source), "-frames:v", "1",
         "-vf", f"scale={width}:-2:flags=bicubic", str(out)],
        check=True,
    )  # fmt: skip
    return out


def _psnr(image: Path, reference: Path) -> float:
    run = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(image), "-i", str(reference), "-lavfi", "psnr",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"PSNR .* average:(\d+\.\d+|inf)", run.stderr)
    assert found is not None, run.stderr
    return float(found.group(1))


def assert_frame_at(
    image: Path, source: Path, shown: float, *, width: int, floor: float, seconds: float, tmp_path: Path, what: str
) -> None:
    """`image` is the frame of `source` at `shown` s (PSNR at least `floor` against an ffmpeg seek of the
    source scaled to `width`), not a frame beside it (below `floor`); frames inside the first `seconds`."""
    right = _psnr(image, _reference(source, shown, tmp_path / "ref.png", width))
    assert right >= floor, f"{what}: {right} dB against the source's frame at {shown} s"
    for neighbour in (shown - FRAME, shown + FRAME):
        if 0 <= neighbour < seconds - FRAME:
            other = _psnr(image, _reference(source, neighbour, tmp_path / "other.png", width))
            assert other < floor, f"{what} also matches the source's frame at {neighbour} s"


def test_thumbnails_are_the_frames_at_their_times_and_hit_the_edge(
    edge: tuple[str, Instrumented], published: Published, tmp_path: Path
) -> None:
    url, origin = edge
    key = f"{published.asset_id}/thumbnail.jpg"
    etags = set()
    with httpx.Client(base_url=url, timeout=60) as client:
        for time in TIMES:
            first = client.get(f"/{key}", params={"time": time, "width": WIDTH})
            assert first.status_code == 200, first.text
            assert first.headers["content-type"] == "image/jpeg"
            assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert first.headers["cache-status"].split(", ")[-1].startswith("edge; fwd=miss")
            # The same parameters in another order are the same object: an edge hit, not a new image.
            again = client.get(f"/{key}?width={WIDTH}&time={time}")
            assert again.status_code == 200
            assert again.headers["cache-status"].split(", ")[-1].startswith("edge; hit"), again.headers
            assert (again.content, again.headers["etag"]) == (first.content, first.headers["etag"])
            etags.add(first.headers["etag"])

            image = tmp_path / f"{time}.jpg"
            image.write_bytes(first.content)
            with av.open(io.BytesIO(first.content)) as decoded:
                frame = next(decoded.decode(video=0))
                assert (frame.width, frame.height) == (WIDTH, 180)
            shown = min(time, SECONDS - FRAME)  # the end of the asset shows its last frame
            assert_frame_at(image, published.source, shown, width=WIDTH, floor=FLOOR, seconds=SECONDS,
                            tmp_path=tmp_path, what=f"thumbnail at {time} s")  # fmt: skip
    assert len(etags) == len(TIMES)  # every time its own object
    # The origin made each image once; the repeats were answered by the edge.
    assert origin.counts[key] == len(TIMES)


def _frames(data: bytes, tmp_path: Path) -> tuple[int, Fraction, str]:
    """(frames, duration in seconds, WxH) of an animated WebP, decoded by ffmpeg (all streams, every frame)."""
    path = tmp_path / "animated.webp"
    path.write_bytes(data)
    run = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0", "-f", "framecrc", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "rror" not in run.stderr, run.stderr
    base = re.search(r"#tb 0: (\d+)/(\d+)", run.stdout)
    size = re.search(r"#dimensions 0: (\d+x\d+)", run.stdout)
    assert base is not None and size is not None, run.stdout
    rows = [line.split(",") for line in run.stdout.splitlines() if line and not line.startswith("#")]
    tb = Fraction(int(base.group(1)), int(base.group(2)))
    last = rows[-1]
    return len(rows), (int(last[2]) + int(last[3])) * tb, size.group(1)


@pytest.mark.parametrize(("start", "end", "fps", "width"), [(1.0, 3.0, 10, 320), (6.5, 8.0, 15, 160)])
def test_animated_preview_has_the_frames_asked(
    edge: tuple[str, Instrumented], published: Published, tmp_path: Path, start: float, end: float, fps: int, width: int
) -> None:
    url, _ = edge
    params = {"start": start, "end": end, "fps": fps, "width": width}
    with httpx.Client(base_url=url, timeout=60) as client:
        r = client.get(f"/{published.asset_id}/animated.webp", params=params)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/webp"
        assert (
            client.get(f"/{published.asset_id}/animated.webp", params=params)
            .headers["cache-status"]
            .endswith("edge; hit")
        )
    frames, duration, size = _frames(r.content, tmp_path)
    # The frames at start + k/fps within [start, end), each shown 1/fps.
    assert frames == math.ceil((end - start) * fps)
    assert abs(duration - Fraction(frames, fps)) <= Fraction(1, 1000)
    assert size == f"{width}x{width * 9 // 16 // 2 * 2}"
    # Frame k is the last source frame before start + (k + 1/2)/fps (images.plan), not its neighbours.
    # Measured: 26.1-27.8 dB (WebP quality 70 at 320 px), neighbours 16.2-21.5 dB.
    still = tmp_path / "frames"
    still.mkdir()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "animated.webp"), "-map", "0",
                    str(still / "%03d.png")], check=True)  # fmt: skip
    for k in sorted({0, 1, frames // 2, frames - 1}):
        shown = (math.ceil(round((start + (k + 0.5) / fps) * FPS, 6)) - 1) / FPS
        image = still / f"{k + 1:03d}.png"
        assert_frame_at(image, published.source, shown, width=width, floor=ANIMATED_FLOOR, seconds=SECONDS,
                        tmp_path=tmp_path, what=f"frame {k}")  # fmt: skip


@pytest.mark.parametrize(("fmt", "magic"), [("webp", (8, b"WEBP")), ("avif", (4, b"ftypavif"))])
def test_other_formats_decode_at_the_width_asked(
    edge: tuple[str, Instrumented], published: Published, fmt: str, magic: tuple[int, bytes]
) -> None:
    url, _ = edge
    r = httpx.get(f"{url}/{published.asset_id}/thumbnail.{fmt}", params={"time": 3, "width": 500}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == f"image/{fmt}"
    offset, signature = magic
    assert r.content[offset : offset + len(signature)] == signature
    with av.open(io.BytesIO(r.content)) as decoded:
        frame = next(decoded.decode(video=0))
        assert (frame.width, frame.height) == (500, 282)
