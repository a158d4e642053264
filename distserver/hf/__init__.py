"""The Hugging Face door: the subset of the Hub's API that huggingface_hub uses."""

from __future__ import annotations

from flask import Blueprint

hf = Blueprint("hf", __name__)

from distserver.hf import (  # noqa: E402,F401  (registers routes)
    account_views,
    listing_views,
    repo_views,
    views,
)
