"""Auditor endpoints in /api/v1: events, checkpoints, receipts."""
