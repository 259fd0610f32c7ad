"""The SDR ladder from an HDR or wide-gamut source: a tone map to BT.709 and the tags that say so. Pure.

The H.264 ladder is 8-bit BT.709 SDR, what every player shows correctly. A PQ (HDR10, Dolby Vision
8.1) or HLG source encoded as is looks washed out and dull (its code values read as BT.709); so the
ladder's single decode is converted once, before the split into rungs:

    zscale (to linear light, nominal peak 100 nits) -> float RGB -> zscale (BT.2020 to BT.709 primaries)
    -> tonemap (Hable's filmic curve, no desaturation) -> zscale (BT.709 transfer and matrix, limited
    range) -> yuv420p

zscale (libzimg) and tonemap are both in the bundled ffmpeg (imageio-ffmpeg's build lists them with
`ffmpeg -filters`); libplacebo is listed too but needs a Vulkan device, which workers do not have.
A wide-gamut SDR source (BT.2020 primaries, SDR transfer) only has its primaries converted. Every
output of a converted encode is tagged BT.709 / limited range explicitly (the SPS VUI and the `colr`
box of the init segment), so players never guess. An SDR BT.709 source is left exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from media.colour import ColourInfo

TONEMAP_CURVE = "hable"  # filmic; keeps highlight detail where "clip" or "linear" would burn it
# Nominal peak luminance (nits) linear light is scaled to before the tone map: the usual SDR reference
# white, so PQ content graded around 100-203 nits lands in SDR's range and brighter highlights roll off.
NOMINAL_PEAK = 100
# The tags every output of a converted encode carries (ffmpeg output option names).
BT709_TAGS: dict[str, str] = {
    "color_primaries": "bt709",
    "color_trc": "bt709",
    "colorspace": "bt709",
    "color_range": "tv",
}


# HDR metadata attached to the decoded frames: after the tone map it describes a picture that no longer
# exists, and x264 would write the static part into the SDR stream as SEI (players then treat it as HDR).
HDR_SIDE_DATA = (
    "MASTERING_DISPLAY_METADATA", "CONTENT_LIGHT_LEVEL", "DYNAMIC_HDR_PLUS", "DYNAMIC_HDR_VIVID",
    "DOVI_RPU_BUFFER", "DOVI_METADATA", "AMBIENT_VIEWING_ENVIRONMENT", "ICC_PROFILE",
)  # fmt: skip


@dataclass(frozen=True)
class Filter:
    name: str
    options: dict[str, object]


def _input_options(colour: ColourInfo) -> dict[str, object]:
    """What zscale is told the source is: its tags, with BT.2020 assumed where an HDR source left
    primaries or matrix unset (no PQ or HLG video is mastered in anything else)."""
    return {
        "primariesin": colour.primaries or "2020",
        "matrixin": {"bt2020nc": "2020_ncl", "bt2020c": "2020_cl", "bt709": "709"}.get(colour.matrix or "", "2020_ncl"),
        "rangein": "full" if colour.range == "pc" else "limited",
    }


def _zimg_primaries(name: str | None) -> str:
    return {"bt2020": "2020", "bt709": "709", "smpte432": "smpte432", "smpte431": "smpte431"}.get(name or "", "2020")


def sdr_filters(colour: ColourInfo | None) -> list[Filter]:
    """The filters that make `colour`'s source BT.709 SDR; [] when it already is (or is unknown)."""
    if colour is None:
        return []
    if colour.hdr is not None:
        zin = _input_options(colour)
        zin["primariesin"] = _zimg_primaries(colour.primaries)
        zin["transferin"] = "smpte2084" if colour.hdr == "pq" else "arib-std-b67"
        return [
            Filter("zscale", {**zin, "transfer": "linear", "npl": NOMINAL_PEAK}),
            # Float RGB: the tone map works on linear light without banding or clipping.
            Filter("format", {"pix_fmts": "gbrpf32le"}),
            Filter("zscale", {"primaries": "709"}),
            Filter("tonemap", {"tonemap": TONEMAP_CURVE, "desat": 0}),
            Filter("zscale", {"transfer": "709", "matrix": "709", "range": "limited"}),
            Filter("format", {"pix_fmts": "yuv420p"}),
            *_drop_hdr_metadata(),
        ]
    if colour.wide_gamut:
        zin = _input_options(colour)
        zin["primariesin"] = _zimg_primaries(colour.primaries)
        zin["transferin"] = "709"  # BT.2020's SDR transfer is BT.709's curve
        return [
            Filter("zscale", {**zin, "primaries": "709", "transfer": "709", "matrix": "709", "range": "limited"}),
            Filter("format", {"pix_fmts": "yuv420p"}),
            *_drop_hdr_metadata(),
        ]
    return []


def _drop_hdr_metadata() -> list[Filter]:
    return [Filter("sidedata", {"mode": "delete", "type": kind}) for kind in HDR_SIDE_DATA]


def output_tags(colour: ColourInfo | None) -> dict[str, str]:
    """Colour options for every video output: BT.709 tags when the source was converted, else none
    (an SDR source's own tags pass through as before)."""
    return dict(BT709_TAGS) if sdr_filters(colour) else {}
