"""EXT-X-VERSION required by each playlist feature (RFC 8216 section 7), in one table.

The renderer asks for the lowest version its features allow; the validator asks the same
question of a parsed playlist. Older clients reject a version they do not know, so declaring
more than needed only loses players.
"""

from __future__ import annotations

from collections.abc import Iterable

# feature -> lowest EXT-X-VERSION that permits it
FEATURE_VERSIONS: dict[str, int] = {
    "float-extinf": 3,
    "byterange": 4,
    "i-frames-only": 4,
    "map-in-i-frames-only": 5,  # EXT-X-MAP in a playlist with EXT-X-I-FRAMES-ONLY
    "map": 6,  # EXT-X-MAP in any other media playlist
}


def required_version(features: Iterable[str]) -> int:
    return max((FEATURE_VERSIONS[f] for f in features), default=1)


def media_features(*, has_map: bool, i_frames_only: bool, byterange: bool, float_extinf: bool) -> set[str]:
    features: set[str] = set()
    if float_extinf:
        features.add("float-extinf")
    if byterange:
        features.add("byterange")
    if i_frames_only:
        features.add("i-frames-only")
    if has_map:
        features.add("map-in-i-frames-only" if i_frames_only else "map")
    return features
