"""Images for the poster tests, made with Pillow: a photo with EXIF (GPS, orientation), XMP, an ICC
profile and a comment; a truncated one; a decompression bomb of a few hundred KB."""

from __future__ import annotations

import io

from PIL import Image, ImageCms
from PIL.ExifTags import GPS, IFD, Base

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description creator-secret="vodstack-xmp-marker"/></x:xmpmeta>'
COMMENT = b"vodstack-comment-marker"
MAKE = "vodstack-camera-marker"
RED, BLUE = (220, 20, 20), (20, 20, 220)


def photo(width: int = 1600, height: int = 900, fmt: str = "JPEG", orientation: int = 6) -> bytes:
    """Left half red, right half blue, stored sideways: EXIF orientation 6 says "turn 90 degrees
    clockwise to show it", so shown upright it is `height` wide, red on top and blue below."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height))
    exif = image.getexif()
    exif[Base.Orientation] = orientation
    exif[Base.Make] = MAKE
    exif[IFD.GPSInfo] = {
        GPS.GPSLatitudeRef: "N",
        GPS.GPSLatitude: (48.0, 51.0, 29.0),
        GPS.GPSLongitudeRef: "E",
        GPS.GPSLongitude: (2.0, 17.0, 40.0),
    }
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    extra: dict[str, object] = {"exif": exif.tobytes(), "icc_profile": icc}
    if fmt in ("JPEG", "WEBP", "PNG"):
        extra["xmp"] = XMP
    if fmt == "JPEG":
        extra["comment"] = COMMENT
    image.save(out, format=fmt, **extra)
    return out.getvalue()


def plain(width: int, height: int, fmt: str = "PNG", color: tuple[int, int, int] = (10, 200, 10)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format=fmt)
    return out.getvalue()


def bomb(side: int = 30_000) -> bytes:
    """A `side` x `side` PNG of zeros: 900 megapixels (a GiB decoded) in about 110 KB."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG")
    return out.getvalue()
