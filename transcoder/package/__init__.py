"""Packaging: fMP4 read-back (fmp4.py), output tracks (outputs.py), verification (verify.py),
progressive publishing while encoding (progressive.py) and the final publish (publish.py)."""
