"""What a creator may change on an asset (PATCH /assets/{id}): title, description, tags, visibility.

Bounds are declared on the model, so a body outside them is refused with FastAPI's 422 naming the
field; anything else in the body (state, owner, ...) is refused the same way, never ignored.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_TAGS = 20
MAX_TAG = 40

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG)]


def _printable(value: str, *, newlines: bool) -> str:
    """Refuse control characters (a title is shown in pages, terminals and logs)."""
    allowed = {"\n", "\t"} if newlines else set()
    if any(unicodedata.category(c) in ("Cc", "Cf") and c not in allowed for c in value):
        raise ValueError("must not contain control characters")
    return value


class AssetPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"title": "Launch keynote", "tags": ["keynote", "2026"], "visibility": "private"}]
        },
    )

    # null clears the title or the description; an absent field is left as it is.
    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    # The whole list (replaces the tags): distinct, case kept, at most MAX_TAGS.
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    # private: playback URLs carry a signed token (when the stack signs, VODSTACK_INGEST_SIGNING_SECRET).
    visibility: Literal["public", "private"] | None = None

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _printable(value.strip(), newlines=False)
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        return None if value is None else _printable(value, newlines=True)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for tag in value:
            _printable(tag, newlines=False)
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _something(self) -> AssetPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change: give title, description, tags or visibility")
        if "visibility" in self.model_fields_set and self.visibility is None:
            raise ValueError("visibility is public or private")
        return self
