"""The fast path's writes, each one statement (and so one transaction, durable when it
returns; see fastdb):

- `ISSUE_COUNTED`: the quota upsert that refuses past the limit
  (`ON CONFLICT ... DO UPDATE ... WHERE used < quota RETURNING`), then, only if it
  counted, the link row and the issued (or used) event; if it did not count, the
  refusal event instead. N concurrent requests against a quota of K give exactly
  min(N, K) links: the upsert takes the counter's row lock and re-checks the limit
  on the locked row.
- `ISSUE_UNCOUNTED`: a tier without a quota (staff): the link row and its event.
- `REFUSE`: a refusal the policy made on the gathered facts: its event.

Every statement writes only if the `access_version` row still holds `%(version)s`,
the version the facts were read at (downloads.fastcache): each returns one row,
(the counter's new value or NULL, whether the version held); when it did not, the
statement wrote nothing and the request takes the full path. Every statement also
moves the token's `last_used_at` when it is due, so a link needs no separate write
for it. Event rows come from audit.service.event_values,
the same function the ORM path uses.
"""

from __future__ import annotations

from typing import Any

from distserver.audit.models import AuditEvent

# Every column of an event but its id, in the order the hash chain covers them.
EVENT_COLUMNS = tuple(f for f in AuditEvent.CHAINED_FIELDS if f != "id")
# Each placeholder typed, so NULLs and the UNION below need no inference.
_EVENT_TYPES = {"occurred_at": "timestamptz", "actor_id": "integer"}
LINK_COLUMNS = (
    "id",
    "user_id",
    "address",
    "model_id",
    "revision_id",
    "path",
    "sha256",
    "size",
    "tier",
    "door",
    "created_at",
    "expires_at",
)
_LINK_TYPES = {
    "user_id": "bigint",
    "model_id": "bigint",
    "revision_id": "bigint",
    "size": "bigint",
    "created_at": "timestamptz",
    "expires_at": "timestamptz",
}


# The statements below are put together once, at import, from the constant column
# names above; every value is a bound parameter.  (Hence the S608 exemptions.)
def _select(prefix: str, columns: tuple[str, ...], types: dict[str, str]) -> str:
    return ", ".join(f"%({prefix}{c})s::{types.get(c, 'text')}" for c in columns)


_EVENTS = f"INSERT INTO audit_events ({', '.join(EVENT_COLUMNS)})"
_LINKS = f"INSERT INTO download_links ({', '.join(LINK_COLUMNS)})"
_UNCHANGED = (
    "unchanged AS (SELECT 1 FROM access_version WHERE id = 1 AND version = %(version)s::bigint)"
)
_HELD = "EXISTS (SELECT 1 FROM unchanged)"
_TOUCH = f"""touch AS (UPDATE api_tokens SET last_used_at = %(now)s::timestamptz
  WHERE id = %(token_id)s AND %(touch)s AND {_HELD})"""  # noqa: S608
_COUNT = """counted AS (
  INSERT INTO quota_counters (subject, tier, day, used)
  SELECT %(subject)s::text, %(tier)s::text, %(day)s::text, 1 FROM unchanged
  ON CONFLICT (subject, tier, day) DO UPDATE SET used = quota_counters.used + 1
   WHERE quota_counters.used < %(quota)s
  RETURNING used)"""
_LINK_IF = f"""link AS (
  {_LINKS}
  SELECT {_select("l_", LINK_COLUMNS, _LINK_TYPES)} FROM counted WHERE %(new_link)s)"""  # noqa: S608
_EVENT_EITHER = f"""event AS (
  {_EVENTS}
  SELECT {_select("e_", EVENT_COLUMNS, _EVENT_TYPES)} FROM counted
  UNION ALL
  SELECT {_select("r_", EVENT_COLUMNS, _EVENT_TYPES)}
   WHERE NOT EXISTS (SELECT 1 FROM counted) AND {_HELD})"""  # noqa: S608

ISSUE_COUNTED = f"""WITH {_UNCHANGED}, {_TOUCH}, {_COUNT}, {_LINK_IF}, {_EVENT_EITHER}
SELECT (SELECT used FROM counted), {_HELD}"""  # noqa: S608

ISSUE_UNCOUNTED = f"""WITH {_UNCHANGED}, {_TOUCH}, link AS (
  {_LINKS}
  SELECT {_select("l_", LINK_COLUMNS, _LINK_TYPES)} FROM unchanged WHERE %(new_link)s),
event AS ({_EVENTS} SELECT {_select("e_", EVENT_COLUMNS, _EVENT_TYPES)} FROM unchanged)
SELECT NULL::integer, {_HELD}"""  # noqa: S608

REFUSE = f"""WITH {_UNCHANGED}, {_TOUCH},
event AS ({_EVENTS} SELECT {_select("r_", EVENT_COLUMNS, _EVENT_TYPES)} FROM unchanged)
SELECT NULL::integer, {_HELD}"""  # noqa: S608


def prefixed(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {prefix + k: v for k, v in values.items()}
