"""EBU R128 loudness: the measuring pass's argv, reading its results, the normalising pass's options. Pure.

Two passes: a first run measures every audio stream of the source at once (one read of the file, one
`ebur128` meter per stream, named so that each result is told apart); the encode then normalises each
rendition. Where one gain over the whole track reaches the target without passing the true-peak ceiling
(and the track's loudness range is within the target's), that gain is applied with the `volume` filter:
what loudnorm's linear mode does, without its 192 kHz resampling and its own metering, and the output's
loudness is then the measurement plus the gain (`after_gain`), with no second read. Otherwise loudnorm
runs with the measured values (its dynamic mode), and the same measuring pass run over the published
rendition gives the output loudness recorded on the asset.

The meter is ffmpeg's `ebur128` filter (peak=true: true peak by 4x oversampling), not a measuring
loudnorm: both meter EBU R128 (integrated, range, the relative gate's threshold, true peak), but
loudnorm resamples every stream to 192 kHz first, which made the measuring pass 6x dearer (2.3 against
0.39 CPU-s for two 60 s stereo tracks, BENCHMARKS.md). ebur128 prints one decimal; loudnorm's second
pass takes the figures as they are.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

# Each meter is named "ebur128@t<N>"; it logs its summary at the end under that name, over the following
# lines (up to the next line a filter or muxer logs, which starts with "[").
_SUMMARY = re.compile(r"\[ebur128@t(\d+) @ [^\]]*\] Summary:(.*?)(?=\n\[|\Z)", re.DOTALL)
_INTEGRATED = re.compile(r"I:\s+(\S+) LUFS\s+Threshold:\s+(\S+) LUFS")
_RANGE = re.compile(r"LRA:\s+(\S+) LU\b")
_PEAK = re.compile(r"Peak:\s+(\S+) dBFS")
# ffmpeg names an output that received nothing (its stream did not decode at all); loudnorm still logs
# a measurement for it, of silence.
_EMPTY = re.compile(r"\[out#(\d+)/null @ [^\]]*\] (?:Nothing was written|Output file is empty)")
# Below this integrated loudness a track is silence (or nearly): there is nothing to normalise, and
# loudnorm would amplify noise by 50 dB or more.
SILENCE_LUFS = -70.0


@dataclass(frozen=True)
class LoudnessTarget:
    integrated: float = -16.0  # LUFS
    true_peak: float = -1.0  # dBTP
    lra: float = 11.0  # LU: loudnorm's default; only caps the range when it falls back to dynamic mode

    def options(self) -> dict[str, str]:
        return {"I": f"{self.integrated:g}", "TP": f"{self.true_peak:g}", "LRA": f"{self.lra:g}"}


@dataclass(frozen=True)
class Loudness:
    """One measurement: integrated (LUFS), true peak (dBTP), loudness range (LU), gating threshold.
    None where loudnorm reported -inf (silence)."""

    integrated: float | None
    true_peak: float | None
    lra: float | None
    threshold: float | None

    @property
    def silent(self) -> bool:
        return self.integrated is None or self.integrated < SILENCE_LUFS


def dump_measured(measured: Mapping[str, Loudness]) -> bytes:
    """Measurements by rendition name as JSON: how a split job's whole part hands them to the join."""
    return json.dumps({name: asdict(value) for name, value in measured.items()}, sort_keys=True).encode()


def load_measured(data: bytes) -> dict[str, Loudness]:
    """The inverse of `dump_measured`. Raises ValueError on anything else."""
    try:
        raw = json.loads(data)
        return {
            str(name): Loudness(**{k: None if v is None else float(v) for k, v in value.items()})
            for name, value in raw.items()
        }
    except (AttributeError, TypeError) as exc:  # not an object of objects, or other fields
        raise ValueError(f"not a loudness listing: {exc}") from exc


def measure_filter(index: int) -> str:
    """The meter of the `index`th measured stream: true peak on, its 10 lines a second of running
    figures logged at the verbose level (not shown: only the summary is read)."""
    return f"ebur128@t{index}=peak=true:framelog=verbose"


def measure_argv(inputs: Sequence[tuple[str, str, str | None]], ffmpeg_exe: str) -> list[str]:
    """argv of one ffmpeg run measuring each (input file or URL, stream specifier, channel layout)
    triple, e.g. [(source, "a:0", "stereo"), (source, "a:0", "5.1")]: each stream as a rendition will
    carry it (a downmix is louder or quieter than its source), each distinct input opened once, nothing
    written. -loglevel info: ebur128 logs its summary at that level."""
    files = list(dict.fromkeys(path for path, _, _ in inputs))
    argv = [ffmpeg_exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
    for path in files:
        argv += ["-i", path]
    chains = [
        f"[{files.index(path)}:{spec}]{_layout(layout)}{measure_filter(n)}[m{n}]"
        for n, (path, spec, layout) in enumerate(inputs)
    ]
    argv += ["-filter_complex", ";".join(chains)]
    for n in range(len(inputs)):
        argv += ["-map", f"[m{n}]", "-f", "null", "-"]
    return argv


def channel_layout(channels: int) -> str:
    """ffmpeg's layout name of a rendition's channel count."""
    return {1: "mono", 2: "stereo", 6: "5.1"}.get(channels, f"{channels}c")


def _layout(layout: str | None) -> str:
    return f"aformat=channel_layouts={layout}," if layout else ""


def _number(value: object) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_measurements(stderr: str, count: int) -> list[Loudness | None]:
    """The `count` measurements of a measure_argv run, in its input order; None for a stream that gave
    none (it did not decode)."""
    found: dict[int, Loudness] = {}
    for match in _SUMMARY.finditer(stderr):
        block = match.group(2)
        integrated, lra, peak = _INTEGRATED.search(block), _RANGE.search(block), _PEAK.search(block)
        if integrated is None or lra is None:
            continue
        level = _number(integrated.group(1))
        if level is not None and level <= SILENCE_LUFS:
            level = None  # ebur128 says -70.0 when nothing passes the absolute gate: silence
        found[int(match.group(1))] = Loudness(
            integrated=level,
            true_peak=_number(peak.group(1)) if peak else None,
            lra=_number(lra.group(1)),
            threshold=_number(integrated.group(2)) if level is not None else None,
        )
    for match in _EMPTY.finditer(stderr):
        found.pop(int(match.group(1)), None)
    return [found.get(n) for n in range(count)]


def linear_gain(measured: Loudness, target: LoudnessTarget) -> float | None:
    """The one gain (dB) that brings the track to the target integrated loudness, where it keeps the true
    peak at or under the ceiling and the track's loudness range is within the target's: loudnorm's own
    test for its linear mode. None where that is not so (loudnorm's dynamic mode is needed) and for a
    silent track. Unlike loudnorm, a measured range of 0 LU (a steady tone) counts as within: loudnorm
    reads 0 as "not given" and falls back to dynamic mode, which for a steady signal is a costlier way to
    apply nearly the same gain."""
    if measured.silent or measured.integrated is None or measured.true_peak is None or measured.lra is None:
        return None
    gain = target.integrated - measured.integrated
    if measured.true_peak + gain > target.true_peak or measured.lra > target.lra:
        return None
    return gain


def after_gain(measured: Loudness, gain: float) -> Loudness:
    """The loudness of a track after a linear gain (dB): every figure moves by the gain but the range."""
    return Loudness(
        integrated=None if measured.integrated is None else measured.integrated + gain,
        true_peak=None if measured.true_peak is None else measured.true_peak + gain,
        lra=measured.lra,
        threshold=None if measured.threshold is None else measured.threshold + gain,
    )


def normalise_options(measured: Loudness, target: LoudnessTarget) -> tuple[tuple[str, str], ...]:
    """loudnorm's options for a normalising pass that needs its dynamic mode; () for a silent track (left
    as it is) and for one that a linear gain normalises (`linear_gain`)."""
    integrated = measured.integrated
    if integrated is None or measured.silent or linear_gain(measured, target) is not None:
        return ()
    if measured.true_peak is None or measured.lra is None or measured.threshold is None:
        return ()
    return (
        *target.options().items(),
        ("measured_I", f"{integrated:.2f}"),
        ("measured_TP", f"{measured.true_peak:.2f}"),
        ("measured_LRA", f"{measured.lra:.2f}"),
        ("measured_thresh", f"{measured.threshold:.2f}"),
        # One gain over the whole track where loudnorm finds that it does after all (figures rounded here).
        ("linear", "true"),
    )
