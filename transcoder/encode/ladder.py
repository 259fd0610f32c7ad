"""Ladder planning: which renditions to encode for a source. Pure; table-tested.

Apple's HLS authoring ladder is the default. Rungs are chosen by the short side of the source's
display size, so portrait, rotated and anamorphic sources get the same treatment as landscape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from media.probe import MIN_SHORT_SIDE, AudioTrackInfo
from transcoder.encode.audio import LOW_BITRATE, STEREO_BITRATE, STEREO_NAME, AudioRendition, plan_audio

# (width, height, video bits/s) for 16:9 landscape at up to 30 fps.
APPLE_LADDER: tuple[tuple[int, int, int], ...] = (
    (416, 234, 145_000),
    (640, 360, 365_000),
    (768, 432, 730_000),
    (768, 432, 1_100_000),
    (960, 540, 2_000_000),
    (1280, 720, 3_000_000),
    (1280, 720, 4_500_000),
    (1920, 1080, 6_000_000),
    (1920, 1080, 7_800_000),
)

MAX_FRAME_RATE = 60.0
# Above 30 fps a rung needs more bits for the same quality; Apple's guide suggests ~1.5x for 60 fps.
HIGH_FPS_BITRATE_FACTOR = 1.5
# Peak cap relative to the target (x264 VBV): keeps every segment's bit rate close to what is declared.
MAXRATE_FACTOR = 1.10
BUFSIZE_FACTOR = 1.5
# A source whose short side is within this fraction above a rung's gets no extra top rung.
TOP_RUNG_SLACK = 0.10
# x264 takes rates in kbit/s and reads a target under 1 kbit/s as none at all ("bitrate not
# specified", exit 187): bits scaled down by area for a tiny picture stop at this floor.
MIN_VIDEO_BITRATE = 32_000

# AV1 rungs (add_av1_rungs): the H.264 rung's bits times this. SVT-AV1 needed 0.33-0.36 of x264's bits
# for equal VMAF on the synthetic sources, 0.65 on the Big Buck Bunny trailer (BD-rate -35 %; at 0.6 its
# rungs scored 2-3 VMAF below their H.264 twins): bench/av1.py, BENCHMARKS.md. Real content decides.
AV1_BITRATE_FACTOR = 0.65
# SVT-AV1 has no VBV in VBR mode (ffmpeg's -maxrate with -b:v: "Max Bitrate only supported with CRF mode"),
# so an AV1 rung is capped CRF: this CRF under the H.264 rungs' caps (MAXRATE_FACTOR and BUFSIZE_FACTOR of its
# share of the bits). Measured on the Big Buck Bunny trailer (8 s from 0:20, preset 12, 2 s segments):
#   540p, target 1300k: VBR averaged 1098 kbit/s, peaked at 1729 (1.33x), VMAF 94.3;
#       CRF 28 under 1430k: 1018 kbit/s, peak 1277, VMAF 95.2 (CRF 24: peak 1.12x the cap; CRF 32: 872, 94.6)
#   720p, target 1950k: VBR 1830 kbit/s, peak 2484 (1.27x), VMAF 94.6; CRF 28 under 2145k: 1354, peak 1772, 94.9
AV1_CRF = 28
AV1_SUFFIX = "-av1"
CODEC_H264, CODEC_AV1 = "h264", "av1"

# H.264 levels: (level, max macroblocks per second, max frame size in macroblocks, max High-profile kbit/s)
_H264_LEVELS: tuple[tuple[str, int, int, int], ...] = (
    ("3.0", 40_500, 1_620, 12_500),
    ("3.1", 108_000, 3_600, 17_500),
    ("3.2", 216_000, 5_120, 25_000),
    ("4.0", 245_760, 8_192, 25_000),
    ("4.1", 245_760, 8_192, 62_500),
    ("4.2", 522_240, 8_704, 62_500),
    ("5.0", 589_824, 22_080, 168_750),
    ("5.1", 983_040, 36_864, 300_000),
    ("5.2", 2_073_600, 36_864, 300_000),
)


@dataclass(frozen=True)
class Rung:
    name: str  # rendition id and directory, e.g. "360p" or "432p-1100k"
    width: int
    height: int
    frame_rate: float
    bitrate: int  # target video bits/s
    maxrate: int  # VBV peak cap
    bufsize: int
    profile: str  # H.264 profile
    level: str
    # Content-aware ladders (transcoder.encode.fitted): the VMAF step this rung was chosen for (None: the
    # best the source allows) and the VMAF its samples measured at this size and bit rate.
    target_vmaf: float | None = None
    sampled_vmaf: float | None = None
    # Capped CRF (content-aware rungs): encoded at this CRF with `maxrate`/`bufsize` only as a ceiling, and
    # `bitrate` is what the samples predict it spends. None: ABR at `bitrate` under the tight VBV above.
    crf: float | None = None
    # The codec family of the rung: "h264" (libx264, every player) or "av1" (libsvtav1, add_av1_rungs).
    codec: str = "h264"
    # x264 preset of this rung; None: the job's (TranscoderSettings.x264_preset). A content-aware ladder
    # spends the CPU its fewer rungs leave on a slower one (transcoder.encode.fitted.budget_preset).
    preset: str | None = None


@dataclass(frozen=True)
class Ladder:
    rungs: tuple[Rung, ...]  # lowest first
    frame_rate: float
    audio_bitrate: int | None  # None: the source has no audio
    audio_stream: int = 0  # which of the source's audio streams (ffmpeg's 0:a:N) the audio rendition is made from
    # Every audio rendition (transcoder.encode.audio.plan_audio); empty: the one stereo rendition above.
    audio: tuple[AudioRendition, ...] = ()

    def audio_renditions(self) -> tuple[AudioRendition, ...]:
        """What the encode writes for audio: the planned renditions, else one stereo rendition of
        audio_stream (a ladder planned without the source's track list), else none."""
        if self.audio_bitrate is None:
            return ()
        if self.audio:
            return self.audio
        return (
            AudioRendition(
                name=STEREO_NAME,
                source_index=self.audio_stream,
                channels=2,
                bitrate=self.audio_bitrate,
                language="und",
                label="Audio",
                default=True,
                autoselect=True,
                role="main",
            ),
        )


def even(value: float) -> int:
    """Round to the nearest even integer >= 2 (H.264 4:2:0 needs even dimensions); ties round down
    so that an odd source dimension never gets a rung one pixel larger than itself."""
    return max(2, math.ceil(value / 2.0 - 0.5) * 2)


def output_frame_rate(source_rate: float) -> float:
    """Keep the source rate up to 60 fps; halve higher rates until they fit (120 -> 60)."""
    rate = source_rate if source_rate > 0 else 30.0
    while rate > MAX_FRAME_RATE + 0.01:
        rate /= 2
    return round(rate, 3)


def h264_level(width: int, height: int, frame_rate: float, maxrate: int) -> str:
    mbs = ((width + 15) // 16) * ((height + 15) // 16)
    for level, max_mbps, max_fs, max_kbps in _H264_LEVELS:
        if mbs <= max_fs and mbs * frame_rate <= max_mbps and maxrate / 1000 <= max_kbps:
            return level
    return _H264_LEVELS[-1][0]


def plan_ladder(
    display_width: int,
    display_height: int,
    source_frame_rate: float,
    *,
    has_audio: bool,
    ladder: Sequence[tuple[int, int, int]] = APPLE_LADDER,
    audio_bitrate: int = 128_000,
    audio_stream: int = 0,
) -> Ladder:
    """Choose rungs for a source shown at display_width x display_height (SAR and rotation applied)."""
    if display_width <= 0 or display_height <= 0:
        raise ValueError(f"invalid display size {display_width}x{display_height}")
    portrait = display_height > display_width
    src_short, src_long = sorted((display_width, display_height))
    aspect = src_long / src_short
    if src_short < MIN_SHORT_SIDE:
        src_short, src_long = MIN_SHORT_SIDE, max(src_long, round(MIN_SHORT_SIDE * aspect))
    rate = output_frame_rate(source_frame_rate)
    fps_factor = HIGH_FPS_BITRATE_FACTOR if rate > 31 else 1.0

    picked: list[tuple[int, int, int]] = []  # (short side, long side, bitrate)
    for rung_w, rung_h, bitrate in sorted(ladder, key=lambda r: (r[1], r[2])):
        short = min(rung_w, rung_h)
        if short > src_short:
            continue  # never upscale
        long_side = min(even(short * aspect), even(src_long))
        area_factor = (short * long_side) / (rung_w * rung_h)
        picked.append((even(short), long_side, int(bitrate * area_factor * fps_factor)))
    if not picked or src_short > picked[-1][0] * (1 + TOP_RUNG_SLACK):
        # The top rung sits at the source size when the ladder's nearest rung is well below it
        # (or the source is smaller than the smallest rung): bits by the ladder's bits per pixel.
        short, long_side = even(src_short), even(src_long)
        ref_w, ref_h, ref_bitrate = _nearest_rung(ladder, short)
        bitrate = int(ref_bitrate * (short * long_side) / (ref_w * ref_h) * fps_factor)
        # Bits per pixel fall as resolution grows: cap the extrapolation at twice the ladder's top.
        bitrate = min(bitrate, int(max(r[2] for r in ladder) * 2 * fps_factor))
        if picked:
            bitrate = max(bitrate, picked[-1][2])
        picked.append((short, long_side, bitrate))
    picked = [(short, long_side, max(bitrate, MIN_VIDEO_BITRATE)) for short, long_side, bitrate in picked]

    rungs = build_rungs(picked, portrait=portrait, frame_rate=rate)
    return Ladder(rungs, rate, audio_bitrate if has_audio else None, audio_stream)


def plan_audio_only(tracks: Sequence[AudioTrackInfo]) -> Ladder:
    """The ladder of a source without video: no picture rungs; every audio track at 128 and 64 kbit/s
    stereo (+ 5.1 for a multichannel track), each rate its own HLS variant (transcoder.encode.audio)."""
    if not tracks:
        raise ValueError("an audio-only ladder needs at least one audio track")
    return Ladder((), 0.0, STEREO_BITRATE, tracks[0].index, plan_audio(tracks, low_bitrate=LOW_BITRATE))


def _nearest_rung(ladder: Sequence[tuple[int, int, int]], short: int) -> tuple[int, int, int]:
    return min(ladder, key=lambda r: (abs(min(r[0], r[1]) - short), -r[2]))


def build_rungs(picked: Sequence[tuple[int, int, int]], *, portrait: bool, frame_rate: float) -> tuple[Rung, ...]:
    """Rungs from (short side, long side, video bits/s), lowest first: named by short side (with the
    bit rate when a short side is used twice), VBV caps and the H.264 level that fits."""
    rate = frame_rate
    names: dict[int, int] = {}
    for short, _long, _b in picked:
        names[short] = names.get(short, 0) + 1
    rungs = []
    for short, long_side, bitrate in picked:
        width, height = (short, long_side) if portrait else (long_side, short)
        name = f"{short}p" if names[short] == 1 else f"{short}p-{bitrate // 1000}k"
        maxrate = int(bitrate * MAXRATE_FACTOR)
        rungs.append(
            Rung(
                name=name,
                width=width,
                height=height,
                frame_rate=rate,
                bitrate=bitrate,
                maxrate=maxrate,
                bufsize=int(bitrate * BUFSIZE_FACTOR),
                profile="high",
                level=h264_level(width, height, rate, maxrate),
            )
        )
    return tuple(rungs)


def add_av1_rungs(ladder: Ladder, *, bitrate_factor: float = AV1_BITRATE_FACTOR) -> Ladder:
    """`ladder` with an AV1 rung beside the H.264 rung with the most bits of each size: same size and frame
    rate (so the same keyframe grid), named "<rung>-av1", capped CRF (AV1_CRF) under a peak of MAXRATE_FACTOR
    times `bitrate_factor` of that rung's bits. The H.264 rungs come first and stay as they are: the lowest
    rung (what plays while encoding) and the MP4 downloads remain H.264.

    One AV1 rung a size, not one per H.264 rung: capped CRF spends what the picture needs up to the cap, so
    two AV1 rungs of one size differ only where the lower cap binds. On the Big Buck Bunny trailer the twins
    of 720p-3000k and 720p-4500k (caps 2145 and 3217 kbit/s) were the same bytes at 1156 kbit/s: one more
    encode, and a master listing two identical variants.

    The AV1 rung's level is left to the encoder (SVT-AV1 picks the lowest that fits) and read back
    from its av1C; profile "main" is AV1's 8-bit 4:2:0 profile (seq_profile 0)."""
    h264 = [rung for rung in ladder.rungs if rung.codec == CODEC_H264]
    top_of_size: dict[tuple[int, int], Rung] = {}
    for rung in h264:
        size = (rung.width, rung.height)
        if size not in top_of_size or rung.bitrate > top_of_size[size].bitrate:
            top_of_size[size] = rung
    av1 = []
    for rung in top_of_size.values():
        bitrate = max(MIN_VIDEO_BITRATE, int(rung.bitrate * bitrate_factor))
        maxrate = int(bitrate * MAXRATE_FACTOR)
        av1.append(
            replace(
                rung,
                name=f"{rung.name}{AV1_SUFFIX}",
                bitrate=bitrate,
                maxrate=maxrate,
                bufsize=int(bitrate * BUFSIZE_FACTOR),
                profile="main",
                level="",
                codec=CODEC_AV1,
                # SVT-AV1's CRF scale, not x264's: a content-aware rung's CRF is not carried over.
                crf=AV1_CRF,
                # The H.264 rung's VMAF was measured on x264 samples: nothing was measured for this one.
                target_vmaf=None,
                sampled_vmaf=None,
                preset=None,  # SVT-AV1's (EncodePlan.av1_preset), not an x264 one
            )
        )
    return replace(ladder, rungs=(*h264, *av1))
