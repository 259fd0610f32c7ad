"""EBU R128 loudness: the measuring pass's argv, reading its results, the normalising pass's options. Pure.

Two-pass `loudnorm`: a first run measures every audio stream of the source at once (one read of the
file, one loudnorm instance per stream, named so that each result is told apart); the encode then
normalises each rendition with the measured values and linear=true, which applies one gain to the
whole track (no dynamic compression) when the target true peak allows it. The same measuring pass run
over the published renditions gives the output loudness recorded on the asset.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

# Each loudnorm instance is named "loudnorm@t<N>"; with print_format=json it logs its result at the end
# under that name, a JSON object over the following lines.
_RESULT = re.compile(r"\[loudnorm@t(\d+) @ [^\]]*\]\s*(\{[^{}]*\})", re.DOTALL)
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


def measure_filter(index: int, target: LoudnessTarget) -> str:
    """The filter_complex chain measuring input `index`'s stream into the sink label [m<index>]."""
    options = ":".join(f"{k}={v}" for k, v in target.options().items())
    return f"loudnorm@t{index}={options}:print_format=json"


def measure_argv(inputs: Sequence[tuple[str, str, str | None]], target: LoudnessTarget, ffmpeg_exe: str) -> list[str]:
    """argv of one ffmpeg run measuring each (input file or URL, stream specifier, channel layout)
    triple, e.g. [(source, "a:0", "stereo"), (source, "a:0", "5.1")]: each stream as a rendition will
    carry it (a downmix is louder or quieter than its source), each distinct input opened once, nothing
    written. -loglevel info: loudnorm logs its measurement at that level."""
    files = list(dict.fromkeys(path for path, _, _ in inputs))
    argv = [ffmpeg_exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
    for path in files:
        argv += ["-i", path]
    chains = [
        f"[{files.index(path)}:{spec}]{_layout(layout)}{measure_filter(n, target)}[m{n}]"
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
    for match in _RESULT.finditer(stderr):
        try:
            data = json.loads(match.group(2))
        except ValueError:
            continue
        found[int(match.group(1))] = Loudness(
            integrated=_number(data.get("input_i")),
            true_peak=_number(data.get("input_tp")),
            lra=_number(data.get("input_lra")),
            threshold=_number(data.get("input_thresh")),
        )
    for match in _EMPTY.finditer(stderr):
        found.pop(int(match.group(1)), None)
    return [found.get(n) for n in range(count)]


def normalise_options(measured: Loudness, target: LoudnessTarget) -> tuple[tuple[str, str], ...]:
    """loudnorm's options for the normalising pass; () for a silent track (left as it is)."""
    integrated = measured.integrated
    if integrated is None or measured.silent:
        return ()
    if measured.true_peak is None or measured.lra is None or measured.threshold is None:
        return ()
    return (
        *target.options().items(),
        ("measured_I", f"{integrated:.2f}"),
        ("measured_TP", f"{measured.true_peak:.2f}"),
        ("measured_LRA", f"{measured.lra:.2f}"),
        ("measured_thresh", f"{measured.threshold:.2f}"),
        # One gain over the whole track (no dynamic compression) where the true peak allows it.
        ("linear", "true"),
    )
