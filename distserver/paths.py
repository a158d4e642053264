"""Where the server finds the folders it ships with: its default settings (config),
its Alembic migrations and its default tiers and plans.

Installed from the wheel, they live inside the package as `distserver/_shipped/<name>`
(setup.py maps the top-level folders there at build time); in a checkout (or an
editable install) they are the checkout's top-level folders. Either way the server
works from any working directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The checkout's root; when installed this is site-packages and holds none of the below.
PROJECT_DIR = PACKAGE_DIR.parent


def shipped_dir(name: str) -> Path:
    """The shipped folder `name`: the copy inside the installed package, else the checkout's."""
    installed = PACKAGE_DIR / "_shipped" / name
    return installed if installed.is_dir() else PROJECT_DIR / name


CONFIG_DIR = shipped_dir("config")
MIGRATIONS_DIR = shipped_dir("migrations")
TIERS_DIR = shipped_dir("tiers")
