"""Progressive publishing: segments go up as ffmpeg finishes them; the lowest rung plays early.

ffmpeg's progress is replayed step by step from a real encode (segments copied into the output
directory in the order ffmpeg wrote them, its EVENT playlist extended each time), and the
publisher is polled by hand, so every intermediate state is checked without timing.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import m3u8
import pytest

from catalog.models import Asset, AssetState, JobState
from manifests.validate import check_master
from media.probe import probe_source
from storage.filesystem import FilesystemObjectStore
from tests.media import ffmpeg_exe, make_clip, make_language_song, pitch, play_every_stream
from tests.transcoder.harness import assert_succeeded, job_outcome, pipeline_context, published_prefix, submit
from transcoder.encode import commands
from transcoder.encode.audio import plan_audio
from transcoder.encode.ladder import Ladder, add_av1_rungs, plan_audio_only, plan_ladder
from transcoder.encode.runner import run_ffmpeg
from transcoder.package import fmp4
from transcoder.package.progressive import ProgressivePublisher
from transcoder.pipeline import run_job

pytestmark = pytest.mark.ffmpeg

NAMES = ("234p", "360p", "audio")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 5-segment ladder (234p, 360p, audio) as ffmpeg leaves it."""
    root = tmp_path_factory.mktemp("encoded")
    source = make_clip(root / "clip.mp4", seconds=5, size="640x360")
    ladder = plan_ladder(640, 360, 30, has_audio=True)
    out = root / "out"
    for name in NAMES:
        (out / name).mkdir(parents=True)
    plan = commands.EncodePlan(str(source), out, ladder, segment_seconds=1.0, interlaced=False, preset="ultrafast")
    run_ffmpeg(commands.encode_ladder(plan, ffmpeg_exe()))
    return out


def replay(finished: Path, out: Path, segments: int, names: tuple[str, ...] = NAMES) -> None:
    """The output directory as it was when ffmpeg had finished `segments` segments of every rendition."""
    for name in names:
        listed = m3u8.load(str(finished / name / "index.m3u8"))
        (out / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(finished / name / "init.mp4", out / name / "init.mp4")
        playlist = m3u8.M3U8()
        playlist.playlist_type = "event"
        playlist.target_duration = 1
        for seg in listed.segments[:segments]:
            shutil.copy(finished / name / seg.uri, out / name / seg.uri)
            playlist.add_segment(m3u8.Segment(uri=seg.uri, duration=seg.duration, title=""))
        (out / name / "index.m3u8").write_text(playlist.dumps())


def _publisher(ladder: Ladder, out: Path, store: FilesystemObjectStore, playable: list[int]) -> ProgressivePublisher:
    return ProgressivePublisher(
        out,
        ladder,
        segment_seconds=1.0,
        put_file=lambda key, path: store.put_file("media", key, path),
        put_text=lambda key, text: store.put_bytes("media", key, text.encode()),
        delete=lambda key: store.delete("media", key),
        on_playable=lambda: playable.append(1),
        min_segments=2,
    )


def _encode(source: Path, ladder: Ladder, finished: Path, *, av1_preset: int = 13) -> Path:
    """`ladder` of `source` as ffmpeg leaves it, in 1 s segments (AV1 rungs at SVT-AV1's fastest preset)."""
    plan = commands.EncodePlan(
        str(source), finished, ladder, segment_seconds=1.0, interlaced=False, preset="ultrafast", av1_preset=av1_preset
    )
    for directory in commands.output_dirs(plan):
        directory.mkdir(parents=True)
    run_ffmpeg(commands.encode_ladder(plan, ffmpeg_exe()))
    return finished


def _store(tmp_path: Path) -> FilesystemObjectStore:
    store = FilesystemObjectStore(tmp_path / "objects")
    store.ensure_bucket("media")
    return store


def _listed_media(store: FilesystemObjectStore, name: str, tmp_path: Path) -> Path:
    """What the growing playlist of rendition `name` lists, as stored (its init, then each segment), in one
    file: ffmpeg's HLS reader waits for more on a playlist without ENDLIST (m3u8_hold_counters, ~1000 reloads)."""
    media = m3u8.loads(store.get_bytes("media", f"{name}/event.m3u8").decode())
    whole = tmp_path / f"{name}-listed.mp4"
    whole.write_bytes(
        b"".join(store.get_bytes("media", f"{name}/{u}") for u in ("init.mp4", *(s.uri for s in media.segments)))
    )
    return whole


def _keys(store: FilesystemObjectStore) -> set[str]:
    return {o.key for o in store.list("media", "")}


def test_lowest_rung_is_published_growing_then_withdrawn(finished: Path, tmp_path: Path) -> None:
    store = FilesystemObjectStore(tmp_path / "objects")
    store.ensure_bucket("media")
    playable: list[int] = []
    out = tmp_path / "out"
    publisher = _publisher(plan_ladder(640, 360, 30, has_audio=True), out, store, playable)

    def keys() -> set[str]:
        return _keys(store)

    publisher.poll()  # ffmpeg has written nothing yet
    assert keys() == set() and not publisher.playable

    replay(finished, out, 1)
    publisher.poll()
    # Every rendition's finished segment is uploaded, but one segment is not enough to start on.
    assert keys() == {f"{n}/{f}" for n in NAMES for f in ("init.mp4", "seg_00001.m4s")}
    assert not playable

    replay(finished, out, 2)
    publisher.poll()
    assert playable == [1]
    master = m3u8.loads(store.get_bytes("media", "master.m3u8").decode())
    # Only what is playable, under the growing playlists' own name (their type never changes).
    assert [p.uri for p in master.playlists] == ["234p/event.m3u8"]
    assert [m.uri for m in master.media] == ["audio/event.m3u8"]
    assert any(d.value == "partial" for d in master.session_data)
    for name in ("234p", "audio"):
        media = m3u8.loads(store.get_bytes("media", f"{name}/event.m3u8").decode())
        assert media.playlist_type == "event" and not media.is_endlist
        assert [s.uri for s in media.segments] == ["seg_00001.m4s", "seg_00002.m4s"]
        assert media.target_duration == 1
    assert "360p/index.m3u8" not in keys()

    replay(finished, out, 4)
    publisher.poll()
    assert playable == [1]  # published once; the growing playlists are extended
    media = m3u8.loads(store.get_bytes("media", "234p/event.m3u8").decode())
    assert len(media.segments) == 4 and not media.is_endlist
    assert "360p/seg_00004.m4s" in publisher.uploaded

    publisher.withdraw()
    assert keys() == set() and not publisher.playable


def _two_languages(path: Path) -> Path:
    """4 s of 320x180 video with an English (440 Hz, default) and a French (1000 Hz) track."""
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=4"]
    argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4"]
    argv += ["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=4"]
    argv += ["-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]
    argv += ["-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre"]
    argv += ["-disposition:a:0", "default", "-disposition:a:1", "0"]
    subprocess.run([*argv, str(path)], check=True)
    return path


def test_growing_master_lists_every_audio_track(tmp_path: Path) -> None:
    """A viewer who starts while it encodes can pick any language: the partial master lists every audio
    rendition, each as its own growing playlist, as the final master will."""
    source = _two_languages(tmp_path / "languages.mp4")
    info = probe_source(source)
    ladder = plan_ladder(320, 180, 25, has_audio=True)
    ladder = replace(ladder, audio=plan_audio(info.audio_tracks))
    names = (ladder.rungs[0].name, *(a.name for a in ladder.audio_renditions()))
    assert names[1:] == ("audio", "audio-1")
    finished = _encode(source, ladder, tmp_path / "finished")
    store = _store(tmp_path)
    playable: list[int] = []
    out = tmp_path / "out"
    publisher = _publisher(ladder, out, store, playable)
    # The video and the default track are ready, the French one a segment behind: not yet playable.
    replay(finished, out, 2, names[:2])
    replay(finished, out, 1, names[2:])
    publisher.poll()
    assert not playable and "master.m3u8" not in _keys(store)

    replay(finished, out, 2, names)
    publisher.poll()
    assert playable == [1]
    master = m3u8.loads(store.get_bytes("media", "master.m3u8").decode())
    assert any(d.value == "partial" for d in master.session_data)
    audio = [(m.uri, m.language, m.default, m.group_id) for m in master.media if m.type == "AUDIO"]
    assert audio == [("audio/event.m3u8", "en", "YES", "audio"), ("audio-1/event.m3u8", "fr", "NO", "audio")]
    assert [p.stream_info.audio for p in master.playlists] == ["audio"]
    for uri in ("audio/event.m3u8", "audio-1/event.m3u8"):
        media = m3u8.loads(store.get_bytes("media", uri).decode())
        assert media.playlist_type == "event" and not media.is_endlist
        assert [s.uri for s in media.segments] == ["seg_00001.m4s", "seg_00002.m4s"]
    # Each growing audio playlist plays its own track, whole so far (decoded, not just listed).
    for name, tone in (("audio", 440), ("audio-1", 1000)):
        assert pitch(_listed_media(store, name, tmp_path), seconds=1.5) == pytest.approx(tone, rel=0.03), name


def test_growing_master_with_av1_on_lists_the_lowest_h264_rung_with_its_codecs(tmp_path: Path) -> None:
    """With AV1 rungs in the ladder, what plays while it encodes is the lowest H.264 rung (every player
    decodes it), declared with the CODECS of its own init segment; the AV1 rungs' segments go up as they are
    finished, for the complete master."""
    source = make_clip(tmp_path / "clip.mp4", seconds=3, size="640x360")
    ladder = add_av1_rungs(plan_ladder(640, 360, 30, has_audio=True))
    names = (*(r.name for r in ladder.rungs), "audio")
    assert names == ("234p", "360p", "234p-av1", "360p-av1", "audio")
    finished = _encode(source, ladder, tmp_path / "finished")
    store = _store(tmp_path)
    playable: list[int] = []
    out = tmp_path / "out"
    publisher = _publisher(ladder, out, store, playable)
    replay(finished, out, 2, names)
    publisher.poll()
    assert playable == [1]
    master_text = store.get_bytes("media", "master.m3u8").decode()
    assert check_master(master_text) == []
    master = m3u8.loads(master_text)
    init = fmp4.parse_init(store.get_bytes("media", "234p/init.mp4"))
    assert init.codecs.startswith("avc1.")
    assert [(v.uri, v.stream_info.codecs) for v in master.playlists] == [
        ("234p/event.m3u8", f"{init.codecs},mp4a.40.2")
    ]
    assert [m.uri for m in master.media] == ["audio/event.m3u8"]
    assert {f"{n}/seg_0000{i}.m4s" for n in ("234p-av1", "360p-av1") for i in (1, 2)} <= publisher.uploaded
    # The growing rung plays: its listed segments decode whole (2 s).
    streams = play_every_stream(str(_listed_media(store, "234p", tmp_path)))
    assert [(s.kind, round(s.decoded, 2)) for s in streams] == [("video", 2.0)]


def test_an_audio_only_asset_is_published_growing_on_its_audio_renditions(tmp_path: Path) -> None:
    """No rung to wait for: every audio rendition (128k and 64k) gates the first publish, and the partial
    master lists them as audio-only variants, as the final master does."""
    source = make_language_song(tmp_path / "song.mka", {"eng": 440}, seconds=5.0)
    ladder = plan_audio_only(probe_source(source).audio_tracks)
    names = tuple(a.name for a in ladder.audio_renditions())
    assert names == ("audio", "audio-64k") and ladder.rungs == ()
    finished = _encode(source, ladder, tmp_path / "finished")
    store = _store(tmp_path)
    playable: list[int] = []
    out = tmp_path / "out"
    publisher = _publisher(ladder, out, store, playable)
    publisher.poll()  # ffmpeg has written nothing yet
    assert _keys(store) == set() and not playable

    replay(finished, out, 1, names)
    publisher.poll()
    assert _keys(store) == {f"{n}/{f}" for n in names for f in ("init.mp4", "seg_00001.m4s")} and not playable
    # The 128k rendition is ready, the 64k one a segment behind: nothing is listed yet.
    replay(finished, out, 2, names[:1])
    publisher.poll()
    assert not playable and "master.m3u8" not in _keys(store)
    assert not any(key.endswith("event.m3u8") for key in _keys(store))

    replay(finished, out, 2, names)
    publisher.poll()
    assert playable == [1]
    master = m3u8.loads(store.get_bytes("media", "master.m3u8").decode())
    assert any(d.value == "partial" for d in master.session_data)
    # Audio-only variants, the lower rate first; each group's default is the variant's own media.
    assert [(p.uri, p.stream_info.audio, p.stream_info.resolution) for p in master.playlists] == [
        ("audio-64k/event.m3u8", "audio-64k", None),
        ("audio/event.m3u8", "audio", None),
    ]
    assert {(m.group_id, m.uri) for m in master.media if m.type == "AUDIO"} == {("audio", None), ("audio-64k", None)}
    for name in names:
        media = m3u8.loads(store.get_bytes("media", f"{name}/event.m3u8").decode())
        assert media.playlist_type == "event" and not media.is_endlist and media.target_duration == 1
        assert [s.uri for s in media.segments] == ["seg_00001.m4s", "seg_00002.m4s"]
        # What it lists decodes whole, as long as listed, the right tone.
        whole = _listed_media(store, name, tmp_path)
        (played,) = play_every_stream(str(whole))
        listed = sum(s.duration for s in media.segments)
        assert played.kind == "audio" and played.lasts(listed, 0.03) and 1.9 < listed < 2.1, (name, played, listed)
        assert pitch(whole) == pytest.approx(440, rel=0.03), name

    replay(finished, out, 4, names)
    publisher.poll()
    assert playable == [1]  # published once; both growing playlists are extended
    for name in names:
        media = m3u8.loads(store.get_bytes("media", f"{name}/event.m3u8").decode())
        assert len(media.segments) == 4 and not media.is_endlist

    publisher.withdraw()
    assert _keys(store) == set() and not publisher.playable


@pytest.mark.parametrize("kind", ["video", "audio-only"])
def test_pipeline_replaces_the_growing_set_with_the_complete_vod_set(kind: str, tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path, segment_seconds=1.0)
    if kind == "video":
        # 20 s: an 8 s clip's whole job once ended on a loaded CI machine before the publisher had seen two
        # segments of each growing rendition (nothing was published early; "event.m3u8" missing).
        source, growing = make_clip(tmp_path / "clip.mp4", seconds=20, size="640x360"), ("234p", "audio")
    else:  # no rung: the audio renditions alone made it playable early
        # Two minutes: AAC encodes 8 s in less than the publisher's first poll (0.25 s), and the job would
        # end before anything could be published early.
        source = make_language_song(tmp_path / "song.mka", {"eng": 440}, seconds=120)
        growing = ("audio", "audio-64k")
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    assert isinstance(asset, Asset)
    assert asset.first_playable_at is not None and asset.ready_at is not None
    assert asset.first_playable_at <= asset.ready_at

    prefix = published_prefix(ctx, asset_id)
    master = m3u8.loads(ctx.store.get_bytes("media", f"{prefix}master.m3u8").decode())
    assert not any(d.value == "partial" for d in master.session_data)
    assert len(master.playlists) == 2 and bool(master.iframe_playlists) == (kind == "video")
    for uri in [p.uri for p in master.playlists] + [m.uri for m in master.media if m.uri]:
        media = m3u8.loads(ctx.store.get_bytes("media", f"{prefix}{uri}").decode())
        assert media.playlist_type == "vod" and media.is_endlist and len(media.segments) >= 8
    # A player that started on the growing playlists plays to the end on them: still EVENT, now ended,
    # listing the same segments as the VOD playlist.
    for name in growing:
        event = m3u8.loads(ctx.store.get_bytes("media", f"{prefix}{name}/event.m3u8").decode())
        vod = m3u8.loads(ctx.store.get_bytes("media", f"{prefix}{name}/index.m3u8").decode())
        assert event.playlist_type == "event" and event.is_endlist
        assert [s.uri for s in event.segments] == [s.uri for s in vod.segments]


def test_asset_deleted_after_first_playable_leaves_nothing_published(tmp_path: Path) -> None:
    # The fixed ladder: the content-aware analysis runs before the first segment exists, and only delays
    # the first playable this waits for (past its deadline on a loaded machine); deletion is the subject.
    ctx = pipeline_context(tmp_path, ladder="fixed")
    asset_id, job_id = submit(ctx, make_clip(tmp_path / "clip.mp4", seconds=30, size="1280x720"))
    runner = threading.Thread(target=run_job, args=(ctx, job_id))
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while True:  # until the partial master is out
            with ctx.catalog.session() as s:
                asset = s.get(Asset, asset_id)
                assert asset is not None and asset.state in (AssetState.QUEUED, AssetState.PROCESSING), (
                    asset.state if asset else None
                )
                if asset.master_key:
                    asset.state = AssetState.DELETED  # what the asset API's DELETE does to the row
                    break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert ctx.store.stat("media", f"{asset_id}/a1/master.m3u8").size > 0
    finally:
        runner.join(timeout=120)
    asset, job = job_outcome(ctx, asset_id, job_id)
    assert asset.state == AssetState.DELETED and job.state != JobState.SUCCEEDED
    assert list(ctx.store.list("media", f"{asset_id}/")) == []
