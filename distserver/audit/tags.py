"""Audit tags, in source:subject:action form."""

from __future__ import annotations

from enum import StrEnum


class EventTag(StrEnum):
    LINK_ISSUED = "download:link:issued"
    LINK_REFUSED = "download:link:refused"
    LINK_USED = "download:link:used"
    FILE_SERVED = "download:file:served"

    MODEL_CREATED = "catalog:model:created"
    REVISION_PUBLISHED = "catalog:revision:published"
    REVISION_TAGGED = "catalog:revision:tagged"
    CARD_EDITED = "catalog:card:edited"

    USER_CREATED = "account:user:created"
    TOKEN_CREATED = "account:token:created"  # noqa: S105 (a tag, not a secret)
    TOKEN_REVOKED = "account:token:revoked"  # noqa: S105
    LOGIN_SUCCEEDED = "account:login:succeeded"
    LOGIN_FAILED = "account:login:failed"
    LOGOUT = "account:logout:succeeded"
    ROLE_CHANGED = "account:role:changed"
    USER_SUSPENDED = "account:user:suspended"
    PASSWORD_CHANGED = "account:password:changed"  # noqa: S105 (a tag, not a secret)
    EMAIL_VERIFIED = "account:email:verified"
    SECOND_FACTOR_ENROLLED = "account:second_factor:enrolled"
    SSO_LINKED = "account:sso:linked"

    GRANT_ADDED = "access:grant:added"
    GRANT_REVOKED = "access:grant:revoked"
    GRANT_EXTENDED = "access:grant:extended"
    AGREEMENT_ACCEPTED = "access:agreement:accepted"
    GRANT_REMINDED = "access:grant:reminded"
    APPLICATION_SUBMITTED = "access:application:submitted"
    APPLICATION_APPROVED = "access:application:approved"
    APPLICATION_REJECTED = "access:application:rejected"
    APPLICATION_WITHDRAWN = "access:application:withdrawn"
    ORGANIZATION_CREATED = "access:organization:created"
    ORG_AGREEMENT_SIGNED = "access:organization:agreement_signed"
    MEMBERSHIP_ADDED = "access:membership:added"
    MEMBERSHIP_REMOVED = "access:membership:removed"
    MEMBERSHIP_ROLE_CHANGED = "access:membership:role_changed"
    WEBHOOK_CREATED = "access:webhook:created"
    WEBHOOK_SECRET_ROTATED = "access:webhook:secret_rotated"  # noqa: S105 (a tag)
    WEBHOOK_REDELIVERED = "access:webhook:redelivered"

    STAGE_PROMOTED = "release:stage:promoted"
    STAGE_DEMOTED = "release:stage:demoted"
    STAGE_HALTED = "release:stage:halted"
    STAGE_RESUMED = "release:stage:resumed"
    EVALUATION_RECORDED = "release:evaluation:recorded"
    SIGNOFF_RECORDED = "release:signoff:recorded"

    FINGERPRINT_COPY_MADE = "fingerprint:copy:made"
    FINGERPRINT_COPY_REMOVED = "fingerprint:copy:removed"
    FINGERPRINT_TRACE_RUN = "fingerprint:trace:run"

    ALERT_RAISED = "alert:alert:raised"
    ALERT_ACKNOWLEDGED = "alert:alert:acknowledged"
    ALERT_DISMISSED = "alert:alert:dismissed"
    BRAKE_APPLIED = "alert:brake:applied"
    BRAKE_RELEASED = "alert:brake:released"
