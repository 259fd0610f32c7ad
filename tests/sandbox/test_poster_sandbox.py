"""media.poster and media.poster_sandbox: decompression bombs are refused from their header, in the
sandboxed child, without it coming near its memory limit (and the limit itself bites when the pixel
check is taken away); widths are never upscaled; what the child writes is checked."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from media.errors import InvalidMedia
from media.poster import PosterLimits, output_formats, render_poster, scaled_height, variant_widths
from media.poster_sandbox import render_isolated
from media.settings import PosterSettings
from tests.ingest.posters_media import bomb, plain

# The child's whole budget here: a 900-megapixel picture would need a GiB decoded, 4x this.
MEMORY_MB = 256


@pytest.fixture(scope="module")
def bomb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(bomb())
    return path


def _out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    return out


def test_a_bomb_is_refused_from_its_header_well_within_the_memory_limit(bomb_file: Path, tmp_path: Path) -> None:
    assert bomb_file.stat().st_size < 200_000
    settings = PosterSettings(memory_mb=MEMORY_MB)
    with pytest.raises(InvalidMedia) as refused:
        render_isolated(bomb_file, "image/png", _out(tmp_path), settings)
    assert refused.value.reason == "too_many_pixels"
    assert refused.value.message == (
        "the image has too many pixels (900,000,000 pixels); at most 50,000,000 are accepted"
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_without_the_pixel_check_the_memory_limit_stops_the_child(bomb_file: Path, tmp_path: Path) -> None:
    # The control: the same file with the pixel limit lifted is decoded, and the child's memory limit
    # is what stops it. So the refusal above came from the header check, not from luck.
    settings = PosterSettings(memory_mb=MEMORY_MB, max_pixels=10**9)
    with pytest.raises(InvalidMedia) as refused:
        render_isolated(bomb_file, "image/png", _out(tmp_path), settings)
    assert refused.value.reason == "memory"
    assert refused.value.message == f"converting the image needed more than {MEMORY_MB} MiB of memory"


def test_the_child_reports_its_peak_memory(tmp_path: Path) -> None:
    source = tmp_path / "p.png"
    source.write_bytes(plain(1920, 1080, "PNG"))
    report = render_isolated(source, "image/png", _out(tmp_path), PosterSettings(memory_mb=MEMORY_MB))
    assert 0 < report.peak_rss_kib < MEMORY_MB * 1024
    assert [(v.format, v.width, v.height) for v in report.rendered.variants] == [
        (f, w, scaled_height(1920, 1080, w)) for w in (320, 640, 1280) for f in output_formats()
    ]
    for variant in report.rendered.variants:
        with Image.open(tmp_path / "out" / variant.file) as image:
            assert image.size == (variant.width, variant.height)


def test_over_the_limit_but_under_pillows_error_threshold_is_refused_too(tmp_path: Path) -> None:
    # 60 MP against a 50 MP limit: Pillow only warns up to twice its limit; here that is an error.
    source = tmp_path / "p.png"
    out = io.BytesIO()
    Image.new("1", (10_000, 6_000)).save(out, format="PNG")
    source.write_bytes(out.getvalue())
    with pytest.raises(InvalidMedia) as refused:
        render_poster(source, "image/png", _out(tmp_path), PosterLimits(max_pixels=50_000_000))
    assert refused.value.reason == "too_many_pixels" and "60,000,000 pixels" in refused.value.message


def test_avif_is_made_when_pillow_has_it() -> None:
    # Pillow's wheels carry libavif since 11.3: the pinned one must, or posters lose their best format.
    assert output_formats() == ["avif", "webp", "jpeg"]


@pytest.mark.parametrize(
    ("width", "widths", "made"),
    [
        (1920, (320, 640, 1280), [320, 640, 1280]),
        (1280, (320, 640, 1280), [320, 640, 1280]),
        (900, (320, 640, 1280), [320, 640, 900]),  # the picture's own width, never upscaled
        (640, (320, 640, 1280), [320, 640]),
        (500, (320, 640, 1280), [320, 500]),
        (200, (320, 640, 1280), [200]),
        (1, (320, 640, 1280), [1]),
        (5000, (1280, 320, 640, 640), [320, 640, 1280]),  # order and repeats of the setting do not matter
    ],
)
def test_variant_widths(width: int, widths: tuple[int, ...], made: list[int]) -> None:
    assert variant_widths(width, widths) == made


@pytest.mark.parametrize(
    ("content_type", "data", "reason"),
    [
        ("image/gif", plain(8, 8, "GIF"), "unsupported_type"),
        ("image/png", plain(8, 8, "GIF"), "not_image"),  # GIF's decoder is not even tried
        ("image/png", plain(8, 8, "TIFF"), "not_image"),
        ("image/webp", plain(8, 8, "PNG"), "wrong_type"),
    ],
)
def test_only_the_declared_poster_types_are_decoded(
    tmp_path: Path, content_type: str, data: bytes, reason: str
) -> None:
    source = tmp_path / "src"
    source.write_bytes(data)
    with pytest.raises(InvalidMedia) as refused:
        render_poster(source, content_type, _out(tmp_path), PosterLimits())
    assert refused.value.reason == reason


def _saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("content_type", "data", "color"),
    [
        ("image/png", lambda: _saved(Image.new("RGB", (3000, 1800), (200, 10, 10)).convert("P"), "PNG"), (200, 10, 10)),
        # Transparency is flattened onto black (a player's frame).
        ("image/png", lambda: _saved(Image.new("RGBA", (3000, 1800), (200, 10, 10, 0)), "PNG"), (0, 0, 0)),
        ("image/png", lambda: _saved(Image.new("I;16", (3000, 1800), 30000), "PNG"), (117, 117, 117)),  # scaled
        ("image/png", lambda: _saved(Image.new("LA", (300, 180), (100, 255)), "PNG"), (100, 100, 100)),
        ("image/jpeg", lambda: _saved(Image.new("CMYK", (3000, 1800), (0, 255, 255, 0)), "JPEG"), (255, 0, 0)),
        (
            "image/webp",
            lambda: _saved(Image.new("RGB", (300, 180), (10, 200, 10)), "WEBP", lossless=True),
            (10, 200, 10),
        ),
    ],
)
def test_every_mode_becomes_rgb(tmp_path: Path, content_type: str, data: Any, color: tuple[int, int, int]) -> None:
    source = tmp_path / "src"
    source.write_bytes(data())
    rendered = render_poster(source, content_type, _out(tmp_path), PosterLimits())
    for variant in rendered.variants:
        with Image.open(tmp_path / "out" / variant.file) as image:
            assert image.mode == "RGB" and image.size == (variant.width, variant.height)
            pixel = image.getpixel((image.width // 2, image.height // 2))
            assert all(abs(a - b) <= 12 for a, b in zip(pixel, color, strict=True)), (variant, pixel)


def test_a_large_turned_jpeg_is_decoded_small_and_sized_as_shown(tmp_path: Path) -> None:
    # 6000x4000 stored, EXIF orientation 6: shown 4000x6000. libjpeg decodes it at a quarter.
    image = Image.new("RGB", (6000, 4000), (20, 20, 220))
    exif = image.getexif()
    exif[0x0112] = 6
    source = tmp_path / "big.jpg"
    source.write_bytes(_saved(image, "JPEG", exif=exif.tobytes()))
    rendered = render_poster(source, "image/jpeg", _out(tmp_path), PosterLimits())
    assert (rendered.source_width, rendered.source_height) == (4000, 6000)
    assert {(v.width, v.height) for v in rendered.variants} == {(320, 480), (640, 960), (1280, 1920)}
