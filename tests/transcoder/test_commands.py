from __future__ import annotations

import pytest

from transcoder.encode.commands import video_padding


@pytest.mark.parametrize(
    ("duration", "last_frame", "rate", "padding"),
    [
        (3.0, 0.0, 1.0, 2.0),  # one frame a second, then 2 s more of audio
        (180.0, 0.0, 25.0, 179.96),  # a cover image over a 3-minute song
        (10.0, 9.96, 25.0, 0.0),  # the video reaches the end
        (10.02, 9.96, 25.0, 0.0),  # audio a frame longer: not worth a frame
        (10.0, None, 25.0, 0.0),  # end unknown
    ],
)
def test_video_padding(duration: float, last_frame: float | None, rate: float, padding: float) -> None:
    assert video_padding(duration, last_frame, rate) == pytest.approx(padding)
