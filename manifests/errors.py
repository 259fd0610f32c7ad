"""Manifest errors.

ManifestError              base class
 +-- TrackUnrenderable     the model cannot be turned into a standards-exact manifest
 |                         (no segments, target duration below a segment, uri off the DASH template)
 +-- ManifestInvalid       a rendered package broke a publishing rule; `.problems` lists every one
 +-- EmptySelection        a delivery-time rung filter would leave no video variant to play
 +-- ClipOutsideMedia      a clip window that overlaps no segment (it starts past the end)
"""

from __future__ import annotations


class ManifestError(Exception):
    pass


class TrackUnrenderable(ManifestError):
    pass


class ManifestInvalid(ManifestError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} manifest problem(s):\n{listing}")


class EmptySelection(ManifestError):
    pass


class ClipOutsideMedia(ManifestError):
    pass
