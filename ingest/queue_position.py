"""Where a queued asset stands in line: how many transcode jobs were queued before its own and still
wait (any owner's: they share the workers). Counted in the catalog, which the broker's FIFO order
follows; an approximation once jobs are retried (a retried job keeps its first queueing time).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.models import Job, JobState

WHOLE_JOB = "transcode"  # parts of a split job (kind "transcode_part") are counted by their parent


def queue_position(session: Session, asset_id: str) -> int | None:
    """1 for the next job a free worker takes; None when the asset has no queued transcode job."""
    mine = session.scalars(
        select(Job.created_at)
        .where(Job.asset_id == asset_id, Job.state == JobState.QUEUED, Job.kind == WHOLE_JOB)
        .order_by(Job.created_at)
        .limit(1)
    ).first()
    if mine is None:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.state == JobState.QUEUED, Job.kind == WHOLE_JOB, Job.created_at < mine)
    )
    return int(ahead or 0) + 1
