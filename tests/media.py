"""Make test sources with the bundled ffmpeg (lavfi test patterns), and play what the pipeline published
with ffmpeg as the player: every rendition, every stream, no error message tolerated."""

from __future__ import annotations

import array
import atexit
import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import httpx
import imageio_ffmpeg
import m3u8


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(
    dest: Path,
    *,
    seconds: float = 6.0,
    size: str = "640x360",
    rate: str = "30",
    audio: bool = True,
    channels: int = 2,
    extra_video_args: list[str] | None = None,
    input_args: list[str] | None = None,
) -> Path:
    """A test pattern (testsrc2) with a sine tone, H.264/AAC in MP4 (or what `dest`'s suffix names).

    Encoded once per test run for each set of arguments and copied to `dest` after that: many tests
    ask for the same short clip (parametrised over backends, stores, players), and the encode is the
    same bytes every time. `dest` is a fresh copy, so a test may change or truncate it."""
    argv = _clip_argv(seconds, size, rate, audio, channels, extra_video_args or [], input_args or [])
    key = hashlib.sha256(json.dumps([argv, dest.suffix]).encode()).hexdigest()[:32]
    encoded = _clip_cache() / f"{key}{dest.suffix}"
    if not encoded.exists():
        partial = encoded.with_name(f"partial-{encoded.name}")
        subprocess.run([*argv, str(partial)], check=True)
        partial.rename(encoded)
    shutil.copyfile(encoded, dest)
    return dest


_CLIP_CACHE: list[Path] = []


def _clip_cache() -> Path:
    """This process's encoded clips, removed when it exits."""
    if not _CLIP_CACHE:
        folder = Path(tempfile.mkdtemp(prefix="vodstack-test-clips-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _CLIP_CACHE.append(folder)
    return _CLIP_CACHE[0]


def _clip_argv(
    seconds: float,
    size: str,
    rate: str,
    audio: bool,
    channels: int,
    extra_video_args: list[str],
    input_args: list[str],
) -> list[str]:
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        argv += ["-filter_complex", f"[1:a]aformat=channel_layouts={layout}[a]", "-map", "0:v", "-map", "[a]"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *extra_video_args]
    if audio:
        argv += ["-c:a", "aac", "-b:a", "96k"]
    return [*argv, *input_args]


def make_language_song(dest: Path, tones: dict[str, float], *, seconds: float = 8.0) -> Path:
    """No video, one FLAC stream per language (ISO 639-2 code: tone in Hz, in that order): an audio-only
    asset's source (a song, a podcast in two languages); `dest`'s suffix picks the container (.mka, .flac)."""
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    for tone in tones.values():
        argv += ["-f", "lavfi", "-i", f"sine=frequency={tone:g}:sample_rate=48000:duration={seconds}"]
    argv += [*(arg for i in range(len(tones)) for arg in ("-map", f"{i}:a")), "-c:a", "flac"]
    for i, language in enumerate(tones):
        argv += [f"-metadata:s:a:{i}", f"language={language}"]
    subprocess.run([*argv, str(dest)], check=True)
    return dest


def make_language_clip(dest: Path, tones: dict[str, float], *, seconds: float = 8.0, size: str = "320x180") -> Path:
    """A test pattern with one audio stream per language (ISO 639-2 code: tone in Hz, in that order), each
    a pure tone of its own so that a player's switch is heard; H.264/AAC in MP4."""
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
    for tone in tones.values():
        argv += ["-f", "lavfi", "-i", f"sine=frequency={tone:g}:sample_rate=48000:duration={seconds}"]
    argv += ["-map", "0:v", *(arg for i in range(len(tones)) for arg in ("-map", f"{i + 1}:a"))]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    for i, language in enumerate(tones):
        argv += [f"-metadata:s:a:{i}", f"language={language}"]
    subprocess.run([*argv, str(dest)], check=True)
    return dest


@dataclass(frozen=True)
class PlayedStream:
    """One stream as ffmpeg decoded it, in seconds: the span from its first frame's start to its last
    frame's end, and how much of that its decoded frames fill (less when a piece is missing)."""

    kind: str  # "video" or "audio"
    start: float
    end: float
    decoded: float  # the sum of the decoded frames' durations

    def lasts(self, seconds: float, tolerance: float) -> bool:
        return abs(self.end - self.start - seconds) <= tolerance and abs(self.decoded - seconds) <= tolerance


def play_every_stream(url_or_path: str) -> list[PlayedStream]:
    """Decode every stream of `url_or_path` (`-map 0`) to its end with ffmpeg, as a player would.

    Each decoded frame is listed (`-f framecrc`: pts, duration, hash), which gives every stream's span
    and how much of it was decoded. Raises AssertionError if ffmpeg exits non-zero or prints anything
    at all at level `error`: there is no filter on its messages.
    """
    proc = subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", url_or_path,
            # Every stream, every decoded frame once: no frame rate conversion duplicating or dropping frames.
            "-map", "0", "-fps_mode", "passthrough", "-f", "framecrc", "-",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if proc.returncode != 0 or proc.stderr.strip():
        raise AssertionError(f"ffmpeg could not play {url_or_path}: {proc.stderr.strip()[-2000:]}")
    time_bases: dict[int, Fraction] = {}
    kinds: dict[int, str] = {}
    spans: dict[int, tuple[int, int]] = {}
    decoded: dict[int, int] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("#tb "):  # "#tb 0: 1/30"
            index, _, base = line[4:].partition(":")
            time_bases[int(index)] = Fraction(base.strip())
        elif line.startswith("#media_type "):  # "#media_type 0: video"
            index, _, kind = line[12:].partition(":")
            kinds[int(index)] = kind.strip()
        elif line and not line.startswith("#"):  # "stream, dts, pts, duration, size, hash"
            stream, _dts, pts, duration, *_ = (field.strip() for field in line.split(","))
            index, start, length = int(stream), int(pts), int(duration)
            first, last = spans.get(index, (start, start))
            spans[index] = (min(first, start), max(last, start + length))
            decoded[index] = decoded.get(index, 0) + length
    if not spans:
        raise AssertionError(f"ffmpeg decoded nothing from {url_or_path}")
    return [
        PlayedStream(
            kinds[i], float(first * time_bases[i]), float(last * time_bases[i]), float(decoded[i] * time_bases[i])
        )
        for i, (first, last) in sorted(spans.items())
    ]


def _read(url_or_path: str) -> str:
    if url_or_path.startswith(("http://", "https://")):
        return httpx.get(url_or_path, timeout=30).raise_for_status().text
    return Path(url_or_path).read_text()


def play_every_rendition(master: str) -> dict[str, list[PlayedStream]]:
    """Decode every rendition of an HLS multivariant playlist, each media playlist (every video rung,
    every audio rendition) by itself with all its streams: {playlist URI: its decoded streams}.
    A DASH MPD is decoded whole, every representation a stream: {its URI: its decoded streams}.

    One HLS playlist per ffmpeg run: given the master, ffmpeg's HLS demuxer opens every rung at once
    and runs its parsers over the rungs it is not asked to decode, which says nothing about them.
    """
    if master.split("?", 1)[0].endswith(".mpd"):
        return {master: play_every_stream(master)}
    playlist = m3u8.loads(_read(master), uri=master)
    uris = [variant.absolute_uri for variant in playlist.playlists]
    # Subtitle renditions are text, which framecrc cannot take: tests read their cues
    # (tests/transcoder/test_text_tracks.py), as ffmpeg's WebVTT output.
    uris += [media.absolute_uri for media in playlist.media if media.uri and media.type != "SUBTITLES"]
    if not uris:
        raise AssertionError(f"{master} lists no renditions")
    return {uri: play_every_stream(uri) for uri in dict.fromkeys(uris)}


def assert_plays_whole(
    master: str, seconds: float, *, audio: bool = True, video: bool = True, tolerance: float = 0.1
) -> None:
    """Every rendition of `master` decodes without a single error, each of its streams for `seconds`
    (within `tolerance`), and the ladder has video rungs (none when not `video`: audio-only) and, if
    `audio`, an audio rendition."""
    played = play_every_rendition(master)
    kinds = [stream.kind for streams in played.values() for stream in streams]
    assert (("video" in kinds) == video) and (("audio" in kinds) == audio), (master, played)
    wrong = {
        uri: [(s.kind, f"{s.start:.3f}-{s.end:.3f} s", f"{s.decoded:.3f} s decoded") for s in streams]
        for uri, streams in played.items()
        if not all(s.lasts(seconds, tolerance) for s in streams)
    }
    assert not wrong, f"renditions not {seconds} s (+-{tolerance}) long when decoded: {wrong}"


def pitch(media: str | Path, seconds: float | None = None, channel: int = 0) -> float:
    """Frequency of a pure tone in the first channel of a decoded audio rendition (or file), by zero
    crossings: tells a published track's sine from another's, so tracks cannot be swapped unnoticed.
    `seconds`: over the first that many seconds only (a track padded with silence after its tone);
    `channel`: which channel (a mono tone upmixed to 5.1 is in the centre, channel 2)."""
    samples = array.array("f")
    rate = 48000
    with av.open(str(media)) as container:
        for frame in container.decode(audio=0):
            assert frame.format.name == "fltp"  # AAC decodes to planar float
            samples.frombytes(bytes(frame.planes[channel])[: frame.samples * 4])
            rate = frame.sample_rate
    # Leave out 10 ms at either end: the decoder's ramp-in and the last partial frame.
    body = samples[rate // 100 : -rate // 100]
    if seconds is not None:
        body = body[: int(seconds * rate)]
    # Rising crossings with hysteresis (from under -10 % of the peak to over +10 %), timed from the first
    # to the last: the codec's low-level noise before an abrupt onset (AAC's pre-echo) and in padded
    # silence crosses zero many times a millisecond, and the silence itself (the encoder's priming, the
    # padding) is no part of the tone; either would move the reading of a short clip by several percent.
    threshold = 0.1 * max((abs(x) for x in body), default=0.0)
    rising: list[int] = []
    below = False
    for i, x in enumerate(body):
        if x <= -threshold:
            below = True
        elif x >= threshold and below:
            rising.append(i)
            below = False
    if len(rising) < 2:
        return 0.0
    return (len(rising) - 1) * rate / (rising[-1] - rising[0])


def integrated_loudness(media: str | Path) -> float:
    """Integrated loudness (LUFS) of the first audio stream, measured by ffmpeg's ebur128 filter."""
    return loudness_and_peak(media)[0]


def loudness_and_peak(media: str | Path) -> tuple[float, float]:
    """(integrated loudness LUFS, true peak dBTP) of the first audio stream, by ffmpeg's ebur128 filter."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-i", str(media), "-map", "0:a:0",
         "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = proc.stderr.rpartition("Summary:")[2].split()
    if "I:" not in summary or "Peak:" not in summary:
        raise AssertionError(f"no loudness in ebur128's summary of {media}: {proc.stderr[-500:]}")
    return float(summary[summary.index("I:") + 1]), float(summary[summary.index("Peak:") + 1])
