"""What create_app() loads once and every service is handed explicitly: settings,
tiers, plans and the storage backend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

from distserver.access.tiers import Tier
from distserver.releases.plans import Plan
from distserver.storage.base import Storage


@dataclass(frozen=True)
class Runtime:
    settings: Mapping[str, Any]
    tiers: Mapping[str, Tier]
    plans: Mapping[str, Plan]
    storage: Storage


def current_runtime() -> Runtime:
    return current_app.extensions["distserver"]
