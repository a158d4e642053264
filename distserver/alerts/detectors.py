"""The rules' logic over a stream of sealed audit events, with no database and no
clock: each detector is fed events in chain order (`feed`) and then says what it
found (`findings`). A finding's (rule, principal, window_key) is its identity, so
feeding the same events again finds the same findings, which the store ignores."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from distserver.alerts import rules as r
from distserver.audit.tags import EventTag

# The most sequence numbers one alert keeps as evidence (the first ones found).
MAX_EVIDENCE = 50
DOWNLOADS = frozenset({str(EventTag.LINK_ISSUED), str(EventTag.LINK_USED)})
REFUSED = str(EventTag.LINK_REFUSED)
REQUESTS = DOWNLOADS | {REFUSED}
HALTED = str(EventTag.STAGE_HALTED)
RESUMED = str(EventTag.STAGE_RESUMED)
# The tags any rule reads: evaluation streams only these.
TAGS = tuple(sorted(REQUESTS | {HALTED, RESUMED}))


class Event(NamedTuple):
    seq: int
    occurred_at: datetime
    tag: str
    actor_id: int | None
    address: str | None
    model: str | None
    revision: str | None
    path: str | None
    reason: str | None


@dataclass
class Finding:
    rule: str
    principal: str
    window_key: str
    summary: str
    evidence: list[int]
    user_id: int | None = None
    model: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=65536)
def network_of(address: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of an address, as CIDR text."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def _who(e: Event) -> str:
    return f"user:{e.actor_id}" if e.actor_id is not None else f"addr:{e.address}"


class SharedCredential:
    def __init__(self, rule: r.SharedCredential):
        self.rule = rule
        self.seen: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
        self.found: dict[tuple[int, int], Finding] = {}

    def feed(self, e: Event) -> None:
        if e.actor_id is None or e.tag not in REQUESTS or not e.address:
            return
        start = r.window_start(e.occurred_at.timestamp(), self.rule.window)
        key = (e.actor_id, start)
        if key in self.found:
            return
        where = network_of(e.address) if self.rule.by == "network" else e.address
        places = self.seen[key]
        places.setdefault(where, e.seq)
        if len(places) > self.rule.max_addresses:
            self.found[key] = Finding(
                self.rule.name,
                f"user:{e.actor_id}",
                f"{start}",
                f"one account used from {len(places)} {self.rule.by}es within "
                f"{self.rule.window} s (limit {self.rule.max_addresses})",
                sorted(places.values()),
                user_id=e.actor_id,
                details={"places": sorted(places), "window_start": start},
            )
            del self.seen[key]

    def findings(self) -> Iterable[Finding]:
        return self.found.values()


class RepeatDownload:
    """Per file per day as events arrive; the whole model at the end (it needs the
    revision's file list, from `files_of`)."""

    def __init__(self, rule: r.RepeatDownload, files_of: Callable[[str, str], set[str]]):
        self.rule, self.files_of = rule, files_of
        self.per_file: dict[tuple[int, str, str, str], list[int]] = defaultdict(list)
        self.per_revision: dict[tuple[int, str, str, str], dict[str, list[int]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.found: list[Finding] = []

    def feed(self, e: Event) -> None:
        if e.actor_id is None or e.tag not in DOWNLOADS or not e.model or not e.path:
            return
        day = _day(e.occurred_at)
        seqs = self.per_file[(e.actor_id, e.model, e.path, day)]
        seqs.append(e.seq)
        if len(seqs) == self.rule.max_per_file + 1:
            self.found.append(
                Finding(
                    self.rule.name,
                    f"user:{e.actor_id}",
                    f"file:{day}:{e.model}/{e.path}"[:64],
                    f"{e.path} of {e.model} fetched more than {self.rule.max_per_file} "
                    f"times on {day}",
                    seqs[:MAX_EVIDENCE],
                    user_id=e.actor_id,
                    model=e.model,
                    details={"path": e.path, "day": day},
                )
            )
        if e.revision:
            self.per_revision[(e.actor_id, e.model, e.revision, day)][e.path].append(e.seq)

    def findings(self) -> Iterable[Finding]:
        limit = self.rule.max_whole_model
        for (user_id, model, revision, day), paths in self.per_revision.items():
            if max(len(s) for s in paths.values()) <= limit:
                continue
            files = self.files_of(model, revision)
            if not files or not files <= set(paths):
                continue
            whole = min(len(paths[p]) for p in files)
            if whole > limit:
                evidence = sorted(s for p in files for s in paths[p])[:MAX_EVIDENCE]
                self.found.append(
                    Finding(
                        self.rule.name,
                        f"user:{user_id}",
                        f"model:{day}:{model}@{revision[:12]}"[:64],
                        f"every file of {model} fetched {whole} times on {day} (limit {limit})",
                        evidence,
                        user_id=user_id,
                        model=model,
                        details={"revision": revision, "day": day, "times": whole},
                    )
                )
        return self.found


class RefusalBurst:
    def __init__(self, rule: r.RefusalBurst):
        self.rule = rule
        self.seen: dict[tuple[str, int], list[int]] = defaultdict(list)
        self.found: list[Finding] = []

    def feed(self, e: Event) -> None:
        if e.tag != REFUSED:
            return
        start = r.window_start(e.occurred_at.timestamp(), self.rule.window)
        seqs = self.seen[(_who(e), start)]
        seqs.append(e.seq)
        if len(seqs) == self.rule.max_refusals + 1:
            self.found.append(
                Finding(
                    self.rule.name,
                    _who(e),
                    f"{start}",
                    f"{len(seqs)} refused link requests within {self.rule.window} s "
                    f"(limit {self.rule.max_refusals})",
                    list(seqs[:MAX_EVIDENCE]),
                    user_id=e.actor_id,
                    details={"window_start": start},
                )
            )

    def findings(self) -> Iterable[Finding]:
        return self.found


class AnonymousShare:
    def __init__(self, rule: r.AnonymousShare):
        self.rule = rule
        self.total: dict[tuple[str, str], int] = defaultdict(int)
        self.anonymous: dict[tuple[str, str, str], list[int]] = defaultdict(list)

    def feed(self, e: Event) -> None:
        if e.tag not in DOWNLOADS or not e.model:
            return
        day = _day(e.occurred_at)
        self.total[(e.model, day)] += 1
        if e.actor_id is None and e.address:
            self.anonymous[(e.model, day, network_of(e.address))].append(e.seq)

    def findings(self) -> Iterable[Finding]:
        for (model, day, net), seqs in self.anonymous.items():
            total = self.total[(model, day)]
            if total < self.rule.min_downloads or len(seqs) / total <= self.rule.max_share:
                continue
            yield Finding(
                self.rule.name,
                f"net:{net}",
                f"{day}:{model}"[:64],
                f"{len(seqs)} of {total} downloads of {model} on {day} came anonymously "
                f"from {net} (limit {self.rule.max_share:.0%})",
                seqs[:MAX_EVIDENCE],
                model=model,
                details={"day": day, "network": net, "count": len(seqs), "total": total},
            )


class AfterHalt:
    def __init__(self, rule: r.AfterHalt):
        self.rule = rule
        # model -> {user id: seq of a refusal during the current halt}
        self.refused: dict[str, dict[int, int]] = {}
        # model -> (resume time, resume seq, who was refused during that halt)
        self.resumed: dict[str, tuple[datetime, int, dict[int, int]]] = {}
        self.found: dict[tuple[int, str, int], Finding] = {}

    def feed(self, e: Event) -> None:
        if not e.model:
            return
        if e.tag == HALTED:
            self.refused[e.model] = {}
            self.resumed.pop(e.model, None)
        elif e.tag == RESUMED:
            self.resumed[e.model] = (e.occurred_at, e.seq, self.refused.pop(e.model, {}))
        elif e.tag == REFUSED and e.reason == "halted" and e.actor_id is not None:
            self.refused.setdefault(e.model, {}).setdefault(e.actor_id, e.seq)
        elif e.tag in DOWNLOADS and e.actor_id is not None and e.model in self.resumed:
            when, resume_seq, refused = self.resumed[e.model]
            if e.actor_id not in refused:
                return
            if (e.occurred_at - when).total_seconds() > self.rule.within:
                return
            key = (e.actor_id, e.model, resume_seq)
            if key not in self.found:
                self.found[key] = Finding(
                    self.rule.name,
                    f"user:{e.actor_id}",
                    f"{e.model}@{resume_seq}"[:64],
                    f"downloaded {e.model} within {self.rule.within} s after its halt was "
                    "lifted, having been refused during the halt",
                    [refused[e.actor_id], resume_seq, e.seq],
                    user_id=e.actor_id,
                    model=e.model,
                    details={"resume_seq": resume_seq},
                )

    def findings(self) -> Iterable[Finding]:
        return self.found.values()


def detectors(rules: r.AlertRules, files_of: Callable[[str, str], set[str]]) -> list[Any]:
    """One detector per enabled event rule (the shared-link rule reads fetches)."""
    made: list[Any] = []
    if rules.shared_credential.enabled:
        made.append(SharedCredential(rules.shared_credential))
    if rules.repeat_download.enabled:
        made.append(RepeatDownload(rules.repeat_download, files_of))
    if rules.refusal_burst.enabled:
        made.append(RefusalBurst(rules.refusal_burst))
    if rules.anonymous_share.enabled:
        made.append(AnonymousShare(rules.anonymous_share))
    if rules.after_halt.enabled:
        made.append(AfterHalt(rules.after_halt))
    return made
