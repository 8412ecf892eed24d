"""Errors of the agent side; the API turns them into ``{"error": {"code", "message"}}``."""

from __future__ import annotations


class HandoffError(Exception):
    """A request that cannot be carried out; nothing was changed."""

    status = 400

    def __init__(self, message: str, *, code: str = "bad_request", status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.code = message, code
        if status is not None:
            self.status = status


class Invalid(HandoffError):
    status = 400


class Unauthorized(HandoffError):
    status = 401


class Forbidden(HandoffError):
    status = 403


class NotFound(HandoffError):
    status = 404


class Conflict(HandoffError):
    """Someone else got there first (a claim), or the conversation is not in the right status."""

    status = 409


class TooManyAttempts(HandoffError):
    """Too many failed sign-ins: try again after ``retry_after`` seconds."""

    status = 429

    def __init__(self, message: str, *, retry_after: int, code: str = "too_many_attempts") -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
