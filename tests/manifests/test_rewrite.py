from __future__ import annotations

from collections.abc import Callable

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from manifests import dash, hls
from manifests.errors import EmptySelection
from manifests.rewrite import Rung, select_dash_rungs, select_hls_rungs
from manifests.validate import validate_package
from tests.manifests.manifest_samples import ladder


@pytest.mark.parametrize(
    ("keep", "expected"),
    [
        (lambda rung: rung.name in {"360p", "720p"}, ["360p", "720p"]),
        (lambda rung: (rung.height or 0) <= 540, ["360p", "540p"]),
        (lambda rung: rung.bandwidth <= 2_000_000, ["360p"]),
        (lambda rung: True, ["360p", "540p", "720p"]),
    ],
)
def test_select_rungs(keep: Callable[[Rung], bool], expected: list[str]) -> None:
    videos, audios = ladder()

    master = m3u8.loads(select_hls_rungs(hls.render_master(videos, audios), keep))
    assert [p.uri.split("/")[0] for p in master.playlists] == expected
    assert [p.uri.split("/")[0] for p in master.iframe_playlists] == expected
    assert [m.uri for m in master.media] == ["audio/index.m3u8"]
    # what is left is still a valid package over the kept rungs
    kept = [v for v in videos if v.name in expected]
    media = {t.playlist_uri: hls.render_media(t) for t in [*kept, *audios]}
    media |= {t.iframe_playlist_uri: hls.render_iframes(t) for t in kept}
    validate_package(master.dumps(), media, tracks=[*kept, *audios])

    mpd = MPEGDASHParser.parse(select_dash_rungs(dash.render_mpd(videos, audios, duration=9.5), keep))
    video_set, audio_set = mpd.periods[0].adaptation_sets
    assert [r.id for r in video_set.representations] == expected
    assert video_set.max_height == max(v.height or 0 for v in kept)
    assert [r.id for r in audio_set.representations] == ["audio"]


def test_filtering_everything_out_is_refused() -> None:
    videos, audios = ladder()

    def keep(rung: Rung) -> bool:
        return rung.name == "4k"

    with pytest.raises(EmptySelection):
        select_hls_rungs(hls.render_master(videos, audios), keep)
    with pytest.raises(EmptySelection):
        select_dash_rungs(dash.render_mpd(videos, audios, duration=9.5), keep)
