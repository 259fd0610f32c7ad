"""CEA-608 captions inside the video become a caption track: found by the probe from the first frames only,
read by ffmpeg (lavfi movie + cc_dec) into WebVTT, published like any other track."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import m3u8
import pytest

from captions.cues import parse
from catalog.captions import CaptionTrack
from media.probe import probe_source
from media.text_streams import has_closed_captions
from tests.cea608 import captioned_clip
from tests.media import assert_plays_whole, ffmpeg_exe
from tests.transcoder.harness import assert_succeeded, pipeline_context, submit
from tests.transcoder.test_text_tracks import read_cues
from transcoder.pipeline import run_job
from transcoder.text_tracks import closed_captions_argv

pytestmark = pytest.mark.ffmpeg

RATE = 30
# Shown from frame 30 (1 s) to 60 (2 s), the next from frame 80 (2.667 s) to 110 (3.667 s).
CUES = [(30, 60, "HELLO WORLD"), (80, 110, "SECOND ONE")]


@pytest.fixture(scope="module")
def captioned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return captioned_clip(tmp_path_factory.mktemp("cc") / "captioned.mp4", CUES)


def test_captions_in_the_video_are_published_as_a_track(tmp_path: Path, captioned: Path) -> None:
    ctx = pipeline_context(tmp_path)
    asset_id, job_id = submit(ctx, captioned)
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    assert asset.probe is not None and asset.probe["closed_captions"] is True
    with ctx.catalog.session() as s:
        tracks = [(t.source, t.language, t.kind, t.label, t.cue_count) for t in s.query(CaptionTrack).all()]
    assert tracks == [("embedded-cc1", "und", "captions", "CC1", 2)]

    assert asset.master_key is not None
    master_path = ctx.settings.storage.root / "media" / asset.master_key
    master = m3u8.loads(master_path.read_text())
    subs = [m for m in master.media if m.type == "SUBTITLES"]
    assert [(m.name, m.language) for m in subs] == [("CC1", "und")]
    cues = read_cues(str(master_path.parent / subs[0].uri))
    assert [c[2] for c in cues] == ["HELLO WORLD", "SECOND ONE"]
    expected = [(30 / RATE, 60 / RATE), (80 / RATE, 110 / RATE)]
    assert [(start, end) for start, end, _ in cues] == [pytest.approx(e, abs=0.002) for e in expected]
    assert_plays_whole(str(master_path), 4.0, audio=False)


def test_detection_reads_only_the_first_frames(tmp_path: Path, captioned: Path) -> None:
    # Captions whose cc_data starts at frame 90 are past the 60 frames looked at: a bound, not a scan.
    late = captioned_clip(tmp_path / "late.mp4", CUES, first=90)
    plain = captioned_clip(tmp_path / "plain.mp4", [], first=10**6)
    assert probe_source(captioned).closed_captions and not probe_source(plain).closed_captions
    assert not probe_source(late).closed_captions
    with av.open(str(late)) as container:
        assert has_closed_captions(container, container.streams.video[0], frames=91)
        assert not has_closed_captions(container, container.streams.video[0], frames=90)


def test_any_file_name_reaches_the_movie_source(tmp_path: Path, captioned: Path) -> None:
    # Every character the filtergraph or its option parser treats specially, in the directory and the name.
    odd = tmp_path / "it's, [odd]; dir:x" / "a\\b'c=d.mp4"
    odd.parent.mkdir()
    odd.write_bytes(captioned.read_bytes())
    subprocess.run(closed_captions_argv(str(odd), tmp_path / "cc.vtt", ffmpeg_exe()), check=True, timeout=120)
    assert [c.text for c in parse((tmp_path / "cc.vtt").read_bytes())] == ["HELLO WORLD", "SECOND ONE"]
