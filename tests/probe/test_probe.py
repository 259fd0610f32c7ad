from __future__ import annotations

import pytest

from media.probe import VideoInfo


@pytest.mark.parametrize(
    ("width", "height", "sar", "rotation", "shown"),
    [
        (720, 576, (64, 45), 0, (1024, 576)),
        (1280, 720, (1, 1), 90, (720, 1280)),
        # A side squeezed below one pixel by the pixel aspect stays one pixel (the ladder scales it up).
        (1, 1, (1, 3), 0, (1, 1)),
        (3, 5, (1, 8), 270, (5, 1)),
    ],
)
def test_display_size(width: int, height: int, sar: tuple[int, int], rotation: int, shown: tuple[int, int]) -> None:
    video = VideoInfo("h264", width, height, sar, rotation, 30.0, False, False, "yuv420p")
    assert video.display_size == shown
