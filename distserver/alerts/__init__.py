"""Alerts on misuse: rules over the sealed audit log, the storage's access records,
brakes, and their staff page, API and commands (docs/alerts.md)."""
