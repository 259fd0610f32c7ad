"""Split-and-stitch: chunk planning (chunks.py), the split job (splitter.py), its parts (parts.py)
and the join of their segments (stitch.py)."""
