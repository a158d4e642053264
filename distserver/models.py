"""Imports every domain's tables, so the metadata Alembic compares against is whole."""

from distserver.access.models import AgreementAcceptance, Grant
from distserver.accounts.models import ApiToken, User, UserRole
from distserver.alerts.models import Alert, AlertBrake, AlertCursor, LinkFetch
from distserver.audit.models import AuditEvent
from distserver.catalog.models import Blob, File, Model, Revision, RevisionTag
from distserver.downloads.models import DownloadLink, QuotaCounter
from distserver.fingerprint.models import FingerprintCopy
from distserver.releases.models import ReleaseState, StageTransition

__all__ = [
    "AgreementAcceptance",
    "Alert",
    "AlertBrake",
    "AlertCursor",
    "ApiToken",
    "AuditEvent",
    "Blob",
    "DownloadLink",
    "File",
    "FingerprintCopy",
    "Grant",
    "LinkFetch",
    "Model",
    "QuotaCounter",
    "ReleaseState",
    "Revision",
    "RevisionTag",
    "StageTransition",
    "User",
    "UserRole",
]
