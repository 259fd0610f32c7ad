"""HLS and DASH manifests rendered from measured media, validated before publishing.

Pure: a `model.Track` goes in, text comes out; nothing here reads or writes bytes anywhere.

model.py          Segment, Track: what the transcoder measured in its own output
bandwidth.py      RFC 8216 peak / average bit rates, target duration
versions.py       EXT-X-VERSION each playlist feature needs (renderer and validator share it)
hls.py            render_media, render_iframes, render_master (complete or progressive)
dash.py           render_mpd: static isoff-live MPD, SegmentTemplate + SegmentTimeline
validate.py       validate_package: RFC 8216 + Apple rules -> ManifestInvalid(.problems)
validate_dash.py  check_mpd: the MPD's share of the same pre-publish check
rewrite.py        delivery-time rung selection on the parsed model
clip.py           delivery-time clips: a package listed over a time window (segment-accurate)
mime.py           content_type_for(key), for origin
"""
