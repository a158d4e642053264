"""Release actions in /api/v1: evaluations, sign-offs, promote, halt, resume, timeline."""
