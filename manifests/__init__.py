"""HLS and DASH manifests rendered from measured media, validated before publishing.

Pure: a `model.Track` goes in, text comes out; nothing here reads or writes bytes
anywhere. `hls.py` and `dash.py` render, `validate.py` checks a package against RFC 8216
and Apple's authoring rules, `rewrite.py` edits parsed playlists at delivery, `mime.py`
names content types for origin.
"""
