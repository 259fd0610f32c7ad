"""FFmpeg command graphs built with ffmpeg-python. Pure: values in, argv out; nothing runs here.

One run decodes the source once and encodes every rung from a split filter, so the decode and the
filters (deinterlace, frame-rate conversion) are paid once per job, not once per rung.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from media.colour import ColourInfo
from transcoder.encode import colour
from transcoder.encode import previews as pv
from transcoder.encode.audio import AudioRendition
from transcoder.encode.ladder import AV1_CRF, CODEC_AV1, Ladder, Rung
from transcoder.encode.loudness import channel_layout

# Input options for a source read over HTTP (an S3 presigned URL, see storage.read_url): ffmpeg
# reconnects after a dropped connection or a 5xx and resumes by byte range where it stopped; it gives
# up on a read stalled for 30 s rather than hanging the job until its deadline. A fixed 1 MiB socket
# receive buffer bounds what a seek throws away (an autotuned one grows to tens of MB, all of it
# transferred for nothing when ffmpeg jumps elsewhere) and still streams 100 MB/s or more wherever
# the round trip to MinIO or S3 is under 10 ms (one window, 1-2 MiB, per round trip).
REMOTE_INPUT_OPTIONS: dict[str, object] = {
    "recv_buffer_size": 1024 * 1024,
    "reconnect": 1,
    "reconnect_on_network_error": 1,
    "reconnect_on_http_error": "5xx",
    "reconnect_delay_max": 8,
    "reconnect_max_retries": 6,
    "rw_timeout": 30_000_000,  # microseconds
}

AUDIO_NAME = "audio"
INIT_NAME = "init.mp4"
SEGMENT_PATTERN = "seg_%05d.m4s"
PLAYLIST_NAME = "index.m3u8"


@dataclass(frozen=True)
class EncodePlan:
    source: str
    out_dir: Path
    ladder: Ladder
    segment_seconds: float
    interlaced: bool
    preset: str = "veryfast"
    # Storyboard tiles as an extra branch of the same decode (then finish_previews); None: no previews.
    previews: pv.Previews | None = None
    # Encode only [start, start + duration) of the source (split-and-stitch chunks); None: all of it.
    start: float = 0.0
    duration: float | None = None
    # Seconds of the last frame repeated after the video ends (video_padding); 0: none.
    pad_video: float = 0.0
    # The source's colour (probe): an HDR or wide-gamut one is converted to BT.709 SDR (encode.colour).
    colour: ColourInfo | None = None
    # Every audio track is padded with silence to this many seconds (the source's duration): a track
    # that ends early still lasts as long as the video and the others, on the same segments. None: no pad.
    audio_duration: float | None = None
    # SVT-AV1 preset of the AV1 rungs (0 slowest .. 13 fastest): TranscoderSettings.av1_preset.
    av1_preset: int = 10


def video_padding(duration: float, last_frame_time: float | None, frame_rate: float) -> float:
    """How long the video must be held on its last frame to last as long as the source: a cover image
    over a song (one frame, then minutes of audio) would otherwise give a video track of one frame
    that players stop at. 0 when the video reaches the end (within a frame) or its end is unknown."""
    if last_frame_time is None or frame_rate <= 0:
        return 0.0
    missing = duration - (last_frame_time + 1 / frame_rate)
    return round(missing, 3) if missing >= 1 / frame_rate else 0.0


def source_input(source: str, **options: object) -> ffmpeg.nodes.FilterableStream:
    """ffmpeg's input node for the original: a local path, or an http(s) URL read by byte ranges."""
    if source.startswith(("http://", "https://")):
        options = {**REMOTE_INPUT_OPTIONS, **options}
    return ffmpeg.input(source, **options)


def to_sdr(stream: ffmpeg.nodes.FilterableStream, source_colour: ColourInfo | None) -> ffmpeg.nodes.FilterableStream:
    """`stream` tone-mapped / converted to BT.709 SDR when the source needs it (encode.colour), else as is."""
    for step in colour.sdr_filters(source_colour):
        stream = stream.filter(step.name, **step.options)
    return stream


def _hls_options(out_dir: Path, name: str, segment_seconds: float) -> dict[str, object]:
    return {
        "f": "hls",
        "hls_time": segment_seconds,
        # EVENT: ffmpeg rewrites its playlist after every finished segment (VOD writes it only at the
        # end), which is how the progressive publisher learns what is complete. Players never see
        # this playlist: the published ones are rendered from measurements (manifests.hls).
        "hls_playlist_type": "event",
        "hls_list_size": 0,
        # CMAF: fMP4 fragments that both the HLS playlists and the DASH MPD reference.
        "hls_segment_type": "fmp4",
        "hls_fmp4_init_filename": INIT_NAME,
        "hls_segment_filename": str(out_dir / name / SEGMENT_PATTERN),
        # DASH SegmentTemplate numbering starts at 1.
        "start_number": 1,
        # temp_file: segments and the playlist appear under their names only once complete.
        "hls_flags": "independent_segments+temp_file",
    }


def output_dirs(plan: EncodePlan) -> list[Path]:
    """Every directory encode_ladder and finish_previews write into: the caller creates them."""
    names = [rung.name for rung in plan.ladder.rungs]
    names += [audio.name for audio in plan.ladder.audio_renditions()]
    if plan.previews is not None:
        names += [pv.THUMBNAIL_DIR, pv.STORYBOARD_TILES_DIR]
    return [plan.out_dir / name for name in names]


def encode_ladder(plan: EncodePlan, ffmpeg_exe: str) -> list[str]:
    """argv of the single ffmpeg run that writes every rung (and the audio rendition) as CMAF + HLS."""
    seek: dict[str, float] = {}
    if plan.start > 0:
        # Input seeking, frame-accurate (ffmpeg's default -accurate_seek): decoding starts at the
        # keyframe before `start` and frames before it are dropped, so the chunk's local time 0 is
        # the source's `start`, which lies on the keyframe grid forced below.
        seek["ss"] = plan.start
    if plan.duration is not None:
        seek["t"] = plan.duration
    src = source_input(plan.source, **seek)
    # An audio-only source (no rungs, no previews) maps no video at all: `0:v` would fail the run ("matches
    # no streams"). A split job's whole part has no rungs either but makes the storyboard from the video.
    outputs = _video_outputs(src, plan) if plan.ladder.rungs or plan.previews is not None else []
    outputs += _audio_outputs(src, plan)
    graph = ffmpeg.merge_outputs(*outputs).global_args(
        "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-progress", "pipe:1"
    )
    return [ffmpeg_exe, *graph.overwrite_output().get_args()]


def _video_outputs(src: ffmpeg.nodes.FilterableStream, plan: EncodePlan) -> list[ffmpeg.nodes.OutputStream]:
    """Every rung (and the storyboard tiles) from one decode of the source's video, split."""
    video = src.video
    if plan.interlaced:
        # bwdif: motion-adaptive deinterlacer; send_frame keeps the frame rate (one frame per frame).
        video = video.filter("bwdif", mode="send_frame", parity="auto", deint="all")
    # Constant output frame rate: variable-frame-rate sources get regular frames on the keyframe grid.
    video = video.filter("fps", fps=plan.ladder.frame_rate)
    video = to_sdr(video, plan.colour)  # once per job, before the split into rungs
    if plan.pad_video > 0:
        video = video.filter("tpad", stop_mode="clone", stop_duration=plan.pad_video)
    rungs = plan.ladder.rungs
    n_branches = len(rungs) + (1 if plan.previews is not None else 0)
    branches = video.filter_multi_output("split", n_branches) if n_branches > 1 else None
    gop = max(1, round(plan.segment_seconds * plan.ladder.frame_rate))
    outputs = []
    for i, rung in enumerate(rungs):
        stream = branches.stream(i) if branches is not None else video
        stream = stream.filter("scale", rung.width, rung.height, flags="bicubic").filter("setsar", "1")
        opts = _hls_options(plan.out_dir, rung.name, plan.segment_seconds)
        opts.update(
            {
                "c:v": "libx264",
                "preset": rung.preset or plan.preset,
                "profile:v": rung.profile,
                "level:v": rung.level,
                "pix_fmt": "yuv420p",
                # Capped CRF (content-aware rungs): the quality the samples chose, the peak only as a ceiling.
                **({"b:v": rung.bitrate} if rung.crf is None else {"crf": rung.crf}),
                "maxrate": rung.maxrate,
                "bufsize": rung.bufsize,
                # Same keyframe grid in every rung: a closed GOP of exactly one segment, no scene-cut
                # keyframes off the grid, and forced keyframes at each segment boundary.
                "g": gop,
                "keyint_min": gop,
                "sc_threshold": 0,
                "force_key_frames": f"expr:gte(t,n_forced*{plan.segment_seconds})",
                "x264-params": "open-gop=0",
                "an": None,
                **colour.output_tags(plan.colour),
            }
        )
        if rung.codec == CODEC_AV1:
            opts = av1_options(opts, rung, plan.av1_preset)
        outputs.append(ffmpeg.output(stream, str(plan.out_dir / rung.name / PLAYLIST_NAME), **opts))
    if plan.previews is not None:
        board_input = branches.stream(len(rungs)) if branches is not None else video
        outputs.append(_storyboard_tiles(plan.previews, board_input, plan.out_dir))
    return outputs


# x264's own options (its rate control and CRF scale, its profile, level and GOP tuning) that an AV1 rung
# replaces or drops.
_X264_ONLY = (
    *("b:v", "crf", "preset", "profile:v", "level:v", "maxrate", "bufsize"),
    *("keyint_min", "sc_threshold", "x264-params"),
)


def av1_options(h264: dict[str, object], rung: Rung, preset: int) -> dict[str, object]:
    """An AV1 rung's output options from the H.264 ones built for it: the same HLS/CMAF muxing, size,
    pixel format, GOP length, forced keyframes on the segment grid and colour tags (so both families are
    cut at the same instants), with libsvtav1 at `preset` in place of x264."""
    opts = {key: value for key, value in h264.items() if key not in _X264_ONLY}
    opts.update(
        {
            "c:v": "libsvtav1",
            "preset": preset,
            # Capped CRF: SVT-AV1 takes a ceiling (its mbr, from -maxrate) only in CRF mode; in VBR it has
            # none, and a 2 s segment peaked at 1.3-1.7x the target (ladder.AV1_CRF). The buffer (-bufsize)
            # is how long a burst may borrow. The manifests still declare the peak the segments measure.
            "crf": round(rung.crf if rung.crf is not None else AV1_CRF),
            "maxrate": rung.maxrate,
            "bufsize": rung.bufsize,
            # scd=0: no scene-change keyframes off the grid (SVT-AV1's default, stated so it stays).
            # ffmpeg's forced keyframes become SVT-AV1 key frames, so each segment decodes on its own.
            "svtav1-params": "scd=0",
        }
    )
    return opts


def _audio_outputs(src: ffmpeg.nodes.FilterableStream, plan: EncodePlan) -> list[ffmpeg.nodes.OutputStream]:
    """Every audio rendition. Renditions that differ only in bit rate (an audio-only asset's 64k and 128k
    of one track) share one filter chain, split (`asplit`): loudnorm runs once, and ffmpeg-python, which
    merges identical filter nodes, would otherwise see one node with two unsplit outputs."""
    chains: dict[tuple[int, int, tuple[tuple[str, str], ...], float | None], list[AudioRendition]] = {}
    for audio in plan.ladder.audio_renditions():
        chains.setdefault((audio.source_index, audio.channels, audio.loudnorm, audio.gain), []).append(audio)
    outputs = []
    for renditions in chains.values():
        stream = _audio_chain(src, renditions[0], plan)
        if len(renditions) == 1:
            outputs.append(_audio_output(stream, renditions[0], plan))
            continue
        branches = stream.filter_multi_output("asplit", len(renditions))
        outputs += [_audio_output(branches.stream(i), audio, plan) for i, audio in enumerate(renditions)]
    return outputs


def _audio_chain(
    src: ffmpeg.nodes.FilterableStream, audio: AudioRendition, plan: EncodePlan
) -> ffmpeg.nodes.FilterableStream:
    """One source stream (`0:a` would map them all into one rendition of several tracks), normalised when
    the plan says so (a linear gain or loudnorm), padded to the source's duration."""
    # Downmixed (by the resampler the format negotiation inserts) before loudnorm, which then normalises
    # what the rendition carries; also a filter chain of its own per channel count of a shared source stream.
    stream = src[f"a:{audio.source_index}"].filter("aformat", channel_layouts=channel_layout(audio.channels))
    # On the video's clock from 0: an audio stream that starts late (an edit list, a `-ss ... -c copy`
    # cut, a muxer's offset) is preceded by silence, and a gap in it is filled (async=1; swr only fills
    # or trims past its 0.1 s min_hard_comp, it does not stretch). loudnorm counts its output from 0
    # whatever its input's first timestamp, so without this a late track would be moved earlier.
    stream = stream.filter("aresample", first_pts=0, **{"async": 1})
    if audio.gain is not None:
        # One gain (transcoder.encode.loudness.linear_gain), at the source's sample rate.
        stream = stream.filter("volume", volume=f"{audio.gain:.4f}dB")
    elif audio.loudnorm:
        stream = stream.filter("loudnorm", **dict(audio.loudnorm))
        # loudnorm's dynamic mode (a source whose true peak or loudness range the linear gain cannot
        # keep) stamps its final flush (the last 2.9 s it holds) as if the frame before it were a whole
        # 100 ms: a track that does not end on a 100 ms boundary gets a hole of up to 0.1 s before its
        # last 2.9 s, out of sync and played longer than the source. Its samples are contiguous from 0
        # (the aresample above), so their count is their time.
        stream = stream.filter("asetpts", "N/SR/TB")
    if plan.audio_duration is not None:
        stream = stream.filter("apad", whole_dur=plan.audio_duration)
    return stream


def _audio_output(
    stream: ffmpeg.nodes.FilterableStream, audio: AudioRendition, plan: EncodePlan
) -> ffmpeg.nodes.OutputStream:
    """One audio rendition as AAC-LC on the segment grid."""
    opts = _hls_options(plan.out_dir, audio.name, plan.segment_seconds)
    opts.update(
        {
            "c:a": "aac",
            "profile:a": "aac_low",
            "b:a": audio.bitrate,
            # Stereo for every player, downmixed by the resampler; 5.1 for the multichannel group
            # (a 7.1 source is downmixed to it).
            "ac": audio.channels,
            # loudnorm works (and outputs) at 192 kHz: back to 48 kHz like every other rendition.
            "ar": 48000,
            "vn": None,
        }
    )
    return ffmpeg.output(stream, str(plan.out_dir / audio.name / PLAYLIST_NAME), **opts)


def _storyboard_tiles(
    previews: pv.Previews, stream: ffmpeg.nodes.FilterableStream, out_dir: Path
) -> ffmpeg.nodes.OutputStream:
    """One small JPEG per storyboard interval, from the first frame on; finish_previews tiles them.

    The sprite is not tiled in this run: ffmpeg reports progress only once every output has written
    its first frame, and a tile filter emits nothing before its last tile, which held the job's
    progress at 0 until the encode ended. Thumbnails are not taken here for the same reason (the
    first lies at 10% of the duration)."""
    board = previews.storyboard
    tiles = (
        # eof_action=pass: a clip shorter than one interval still gives its tile (by default the fps
        # filter emits nothing for an interval the input ends in, and the JPEG encoder never opens).
        stream.filter("fps", fps=f"1/{board.interval:g}", eof_action="pass")
        # Exactly `count` tiles: the fps filter may emit one more frame at the end of the input.
        .filter("trim", end_frame=board.count)
        .filter("scale", board.tile_width, board.tile_height)
        .filter("setsar", "1")
    )
    return ffmpeg.output(
        tiles,
        str(out_dir / pv.STORYBOARD_TILES_DIR / pv.TILE_PATTERN),
        fps_mode="passthrough",
        **{"frames:v": board.count, "q:v": 2},
    )


def finish_previews(
    previews: pv.Previews,
    source: str,
    out_dir: Path,
    interlaced: bool,
    ffmpeg_exe: str,
    source_colour: ColourInfo | None = None,
) -> list[str]:
    """argv, run after encode_ladder, that writes the thumbnails (a frame-accurate seek into the source
    for each: one GOP decoded per thumbnail, not the whole source again) and tiles the storyboard
    sprite from the tiles the encode wrote."""
    outputs = []
    for i, at in enumerate(previews.thumbnail_times, start=1):
        frame = source_input(source, ss=at).video
        if interlaced:
            frame = frame.filter("bwdif", mode="send_frame", parity="auto", deint="all")
        frame = to_sdr(frame, source_colour)
        frame = frame.filter("scale", previews.thumbnail_width, previews.thumbnail_height).filter("setsar", "1")
        name = pv.THUMBNAIL_PATTERN % i
        outputs.append(ffmpeg.output(frame, str(out_dir / pv.THUMBNAIL_DIR / name), **{"frames:v": 1, "q:v": 3}))
    board = previews.storyboard
    sprite = ffmpeg.input(str(out_dir / pv.STORYBOARD_TILES_DIR / pv.TILE_PATTERN), start_number=1).filter(
        "tile", f"{board.columns}x{board.rows}", nb_frames=board.count
    )
    outputs.append(ffmpeg.output(sprite, str(out_dir / pv.STORYBOARD_IMAGE), update=1, **{"frames:v": 1, "q:v": 4}))
    graph = ffmpeg.merge_outputs(*outputs).global_args("-hide_banner", "-nostdin", "-loglevel", "error")
    return [ffmpeg_exe, *graph.overwrite_output().get_args()]


def poster(
    source: str, dest: Path, at_seconds: float, width: int, ffmpeg_exe: str, source_colour: ColourInfo | None = None
) -> list[str]:
    """argv that writes one JPEG frame at `at_seconds`, scaled to `width` (display aspect kept)."""
    stream = (
        to_sdr(source_input(source, ss=at_seconds).video, source_colour)
        .filter("scale", width, -2)
        .filter("setsar", "1")
        .output(str(dest), vframes=1, **{"q:v": 3})
        .global_args("-hide_banner", "-nostdin", "-loglevel", "error")
        .overwrite_output()
    )
    return [ffmpeg_exe, *stream.get_args()]


WAVEFORM_NAME = "waveform.png"
WAVEFORM_SIZE = (1280, 240)  # 16:3, a strip for a player or a list; twice the size the page shows it at
WAVEFORM_COLOUR = "0x3b82f6"


def waveform(
    source: str, dest: Path, audio_stream: int, ffmpeg_exe: str, size: tuple[int, int] = WAVEFORM_SIZE
) -> list[str]:
    """argv that draws one audio stream of the source (0:a:N) as a PNG of `size`: the picture an
    audio-only asset has instead of a poster. Downmixed to mono first, so one wave fills the height
    whatever the channel count."""
    stream = (
        source_input(source)[f"a:{audio_stream}"]
        .filter("aformat", channel_layouts="mono")
        .filter("showwavespic", s=f"{size[0]}x{size[1]}", colors=WAVEFORM_COLOUR)
        .output(str(dest), **{"frames:v": 1})
        .global_args("-hide_banner", "-nostdin", "-loglevel", "error")
        .overwrite_output()
    )
    return [ffmpeg_exe, *stream.get_args()]
