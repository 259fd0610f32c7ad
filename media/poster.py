"""A creator's poster image made into clean, sized variants with Pillow. Runs in the sandboxed child
(media.poster_cli); never in a service process, since it decodes untrusted images.

What it guarantees of every variant it writes:
- only JPEG, PNG, WebP and HEIC/HEIF are opened (Pillow's other decoders, TIFF, EPS and the rest, never
  see the bytes), and the type must be the one the uploader declared;
- a picture larger than `max_pixels` is refused from its header, before a pixel is decoded
  (Pillow's DecompressionBombWarning is an error here, as is its DecompressionBombError);
- EXIF orientation is applied, the colours are converted from the embedded ICC profile to sRGB, then
  the pixels are copied into a new image: no EXIF (GPS included), XMP, ICC, comment or text chunk
  of the original can reach the output, whatever the encoders would otherwise carry over;
- widths from `widths` (never wider than the picture: no upscaling), each in JPEG, WebP and AVIF
  (when this Pillow has AVIF).
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError, features

from media.errors import InvalidMedia

# Declared Content-Type -> the Pillow formats that may answer it.
CONTENT_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": ("JPEG",),
    "image/png": ("PNG",),
    "image/webp": ("WEBP",),
    "image/heic": ("HEIF",),
    "image/heif": ("HEIF",),
}
_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP", "image/heic": "HEIC", "image/heif": "HEIF"}
# Output format -> (file extension, Pillow save arguments). Every one is a format every current browser
# decodes; AVIF is listed only when the Pillow at hand can encode it (see `output_formats`).
ENCODINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "avif": ("avif", {"format": "AVIF", "quality": 60, "speed": 8}),  # speed 8: seconds, not minutes, at 1280
    "webp": ("webp", {"format": "WEBP", "quality": 80, "method": 4}),
    "jpeg": ("jpg", {"format": "JPEG", "quality": 85, "progressive": True, "optimize": True}),
}
# A poster is a still shown in a player's frame: a strip 10 times longer than wide is no poster, and
# it would make variants with absurd heights.
MAX_ASPECT = 10.0
ORIENTATION = 0x0112  # the EXIF tag


@dataclass(frozen=True)
class PosterLimits:
    max_pixels: int = 50_000_000
    widths: tuple[int, ...] = (320, 640, 1280)


@dataclass(frozen=True)
class Variant:
    format: str  # "jpeg", "webp", "avif"
    width: int
    height: int
    file: str  # name in the output directory, e.g. "640.webp"
    size: int  # bytes


@dataclass(frozen=True)
class Rendered:
    source_format: str  # what the file was (Pillow's name: JPEG, PNG, WEBP, HEIF)
    source_width: int  # as displayed (EXIF orientation applied)
    source_height: int
    variants: list[Variant] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def output_formats() -> list[str]:
    """The formats variants are made in, best first."""
    return [name for name in ENCODINGS if name != "avif" or features.check("avif")]


def variant_widths(width: int, widths: tuple[int, ...]) -> list[int]:
    """The widths to make of a picture `width` wide: those narrower than it, and the picture's own width
    in place of all wider ones (never upscaled). Pure."""
    wanted = sorted({w for w in widths if w > 0})
    made = [w for w in wanted if w < width]
    if wanted and (not made or made[-1] < min(width, wanted[-1])):
        made.append(min(width, wanted[-1]))
    return made


def scaled_height(width: int, height: int, to_width: int) -> int:
    return max(1, round(height * to_width / width))


def _open(source: Path, content_type: str, max_pixels: int) -> Image.Image:
    formats = CONTENT_TYPES.get(content_type)
    if formats is None:
        raise InvalidMedia(f"{content_type!r} is not a poster type (JPEG, PNG, WebP, HEIC)", reason="unsupported_type")
    if "HEIF" in formats:
        import pillow_heif  # imported here: it registers a decoder, and only HEIC uploads need it

        pillow_heif.register_heif_opener()
    Image.MAX_IMAGE_PIXELS = max_pixels
    # Any poster type is recognised (to say "a JPEG, not image/png"), but libheif only reads files
    # declared HEIC: its parser is the largest of them.
    allowed = [f for fs in CONTENT_TYPES.values() for f in fs if f != "HEIF" or "HEIF" in formats]
    try:
        image = Image.open(source, formats=allowed)
    except Image.DecompressionBombError as exc:
        raise _bomb(_pixels_in(str(exc)), max_pixels) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidMedia(
            f"the file is not a {_NAMES[content_type]} image (nor another poster type)", reason="not_image"
        ) from exc
    try:
        _check(image, content_type, formats, max_pixels)
    except InvalidMedia:
        image.close()
        raise
    return image


def _check(image: Image.Image, content_type: str, formats: tuple[str, ...], max_pixels: int) -> None:
    if image.format not in formats:
        raise InvalidMedia(
            f"the file is a {image.format} image, not {content_type} as its Content-Type says", reason="wrong_type"
        )
    width, height = image.size
    if width * height > max_pixels:  # also when Pillow's own check is off (MAX_IMAGE_PIXELS None)
        raise _bomb(f"{width}x{height}, {width * height:,} pixels", max_pixels)
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InvalidMedia(
            f"the image is {width}x{height}: a poster's sides may differ at most {MAX_ASPECT:g} times",
            reason="aspect",
        )


def _bomb(detail: str, max_pixels: int) -> InvalidMedia:
    return InvalidMedia(
        f"the image has too many pixels ({detail}); at most {max_pixels:,} are accepted", reason="too_many_pixels"
    )


def _pixels_in(message: str) -> str:
    """ "900,000,000 pixels" from Pillow's decompression bomb message (whose limit, twice ours, is not
    worth repeating), or the message itself."""
    found = re.search(r"\((\d+) pixels\)", message)
    return f"{int(found.group(1)):,} pixels" if found else message


def _to_srgb(image: Image.Image) -> Image.Image:
    """RGB in sRGB: converted through the embedded ICC profile when there is a usable one."""
    icc = image.info.get("icc_profile")
    image = _common_mode(image)
    if image.mode in ("RGBA", "LA"):
        # Posters sit in a player's (dark) frame: transparency is flattened onto black.
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        background.alpha_composite(image.convert("RGBA"))
        image = background
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            mode = image.mode if image.mode in ("RGB", "CMYK", "L") else "RGB"
            converted = ImageCms.profileToProfile(
                image.convert(mode), source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: the pixels are taken as sRGB, as browsers do
    return image.convert("RGB")


def _common_mode(image: Image.Image) -> Image.Image:
    """8 bits per channel in a mode every step after takes: palettes expanded, 16-bit grey scaled."""
    if image.mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return image
    if image.mode.startswith("I"):  # 16-bit (or 32-bit) grey: convert() would clip at 255, not scale
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")


def _clean_copy(image: Image.Image) -> Image.Image:
    """The pixels alone, in a new image: nothing of the original's `info` (EXIF, XMP, ICC, comments),
    which Pillow copies along through convert() and resize() and some encoders then write out."""
    clean = Image.new("RGB", image.size)
    clean.paste(image)  # pixel for pixel, without the intermediate bytes tobytes() would make
    return clean


def _displayed_size(image: Image.Image) -> tuple[int, int]:
    """Width and height as shown: EXIF orientations 5 to 8 turn the picture a quarter."""
    width, height = image.size
    return (height, width) if image.getexif().get(ORIENTATION) in (5, 6, 7, 8) else (width, height)


def _shrunk(image: Image.Image, width: int) -> Image.Image:
    """Reduced by the largest whole factor that keeps it at least `width` wide (cheap box filter): the
    colour conversion and the copies after it then work on megapixels, not tens of them."""
    factor = image.width // width if width > 0 else 1
    if factor < 2:
        return image
    return _common_mode(image).reduce(factor)  # keeps `info`: the ICC profile still applies in _to_srgb


def render_poster(source: Path, content_type: str, out_dir: Path, limits: PosterLimits) -> Rendered:
    """Write the variants of the image at `source` to `out_dir`; InvalidMedia with a reason a creator can
    read when the file is not a usable poster."""
    with warnings.catch_warnings():
        # Over MAX_IMAGE_PIXELS Pillow only warns (up to twice that it raises): refused here either way.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with _open(source, content_type, limits.max_pixels) as image:
                source_format = image.format or "?"
                source_width, source_height = _displayed_size(image)
                widest = max(limits.widths, default=0)
                if image.format == "JPEG" and widest > 0:
                    # libjpeg decodes at 1/2, 1/4 or 1/8 scale directly, at least this large on both
                    # sides (so whichever side shows as the width after the EXIF turn): a 50 MP photo
                    # costs a few MP of memory, not 150 MB per copy.
                    image.draft(image.mode, (widest, widest))
                upright = ImageOps.exif_transpose(image)  # decodes: truncation shows here
            picture = _clean_copy(_to_srgb(_shrunk(upright, widest)))
            del upright
        except Image.DecompressionBombWarning as exc:
            raise _bomb(_pixels_in(str(exc)), limits.max_pixels) from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidMedia(f"the image is damaged or truncated ({exc})", reason="corrupt") from exc
    width, height = picture.size
    rendered = Rendered(source_format, source_width, source_height)
    for to_width in variant_widths(width, limits.widths):
        to_height = scaled_height(width, height, to_width)
        sized = picture if to_width == width else picture.resize((to_width, to_height), Image.Resampling.LANCZOS)
        for name in output_formats():
            extension, options = ENCODINGS[name]
            path = out_dir / f"{to_width}.{extension}"
            sized.save(path, **options)
            rendered.variants.append(Variant(name, to_width, to_height, path.name, path.stat().st_size))
    return rendered
