"""A pull request review as the local GitHub keeps it (`routes/reviews.py` serves them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Review:
    """A submitted pull request review (`state`: APPROVED, CHANGES_REQUESTED or COMMENTED)."""

    id: int
    login: str
    state: str
    body: str
    commit_id: str
    submitted_at: str
