"""The wheel's package list, which pyproject.toml cannot express on its own: every
`distserver*` package, plus the top-level config/, migrations/ and tiers/ folders
mapped into the package as `distserver._shipped.*`, so an installed server finds its
defaults, migrations and default tiers without a checkout (see distserver/paths.py).
Everything else about the build is in pyproject.toml."""

from setuptools import find_packages, setup

SHIPPED = {
    "distserver._shipped.config": "config",
    "distserver._shipped.migrations": "migrations",
    "distserver._shipped.tiers": "tiers",
}

setup(
    packages=[*find_packages(include=["distserver", "distserver.*"]), *SHIPPED],
    package_dir=SHIPPED,
)
