"""What the agent does with each answer of ``POST /api/v1/reports`` (docs/agent.md).

| answer                                   | verdict        | the agent                     |
| ---------------------------------------- | -------------- | ----------------------------- |
| 201 applied / unchanged (any other 2xx)  | APPLIED        | drops it; new delta base      |
| 200 duplicate                            | DUPLICATE      | drops it; next report whole   |
| 200 superseded                           | SUPERSEDED     | drops it; logs at info        |
| 409 full_report_required                 | FULL_REQUIRED  | sends the whole report now    |
| 413 (too_large)                          | TOO_LARGE      | resends without big sections  |
| 403 (forbidden)                          | FORBIDDEN      | moves it aside; logs an error |
| 400, 422, other 4xx                      | REJECTED       | moves it aside with the reason|
| 401                                      | UNAUTHORIZED   | keeps all; stops until later  |
| 408, 409 other, 425, 429, 5xx, no answer | RETRY          | keeps all; retries later      |
"""

from __future__ import annotations

from enum import Enum

from cmdb.agent.client import SendResult


class Verdict(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    SUPERSEDED = "superseded"
    FULL_REQUIRED = "full_report_required"
    TOO_LARGE = "too_large"
    FORBIDDEN = "forbidden"
    REJECTED = "rejected"
    UNAUTHORIZED = "unauthorized"
    RETRY = "retry"


# transient on the server's side: the same bytes may be taken later
_RETRY_STATUSES = frozenset({408, 425, 429})


def classify(result: SendResult) -> Verdict:
    """The verdict for one answer (pure)."""
    status, answer = result.status, result.answer
    if status is None:
        return Verdict.RETRY
    if 200 <= status < 300:
        if result.body is None:
            # a 2xx whose body is not ours (a proxy): applied is not known, so resend;
            # the server recognises the report id and answers "duplicate"
            return Verdict.RETRY
        if answer == "duplicate":
            return Verdict.DUPLICATE
        if answer == "superseded":
            return Verdict.SUPERSEDED
        return Verdict.APPLIED
    if status == 409:
        # another 409 (a store conflict) clears by itself
        return Verdict.FULL_REQUIRED if answer == "full_report_required" else Verdict.RETRY
    if status == 413:
        return Verdict.TOO_LARGE
    if status == 401:
        return Verdict.UNAUTHORIZED
    if status == 403:
        return Verdict.FORBIDDEN
    if status in _RETRY_STATUSES or status >= 500:
        return Verdict.RETRY
    return Verdict.REJECTED
