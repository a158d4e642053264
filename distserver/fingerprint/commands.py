"""`distserver trace PATH --model NS/NAME` and `distserver fingerprints ...`.

``trace`` scores a suspect .safetensors file (or a folder of them) against everyone
who ever received a marked copy of the revision's weights (removed copies included),
prints a ranked table of z-scores, names the recipients at or above the threshold and
otherwise says plainly that no recipient matches. Each trace is an audit event
(``fingerprint:trace:run``). Under the null (a candidate whose mark is absent) z is
N(0, 1) with P(z >= t) <= exp(-t^2 / 2): the default threshold 6 falsely names a given
candidate with probability at most 1.5e-8.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from distserver.accounts.models import User
from distserver.app_runtime import Runtime
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import Model, Revision
from distserver.catalog.services import resolve_revision
from distserver.cli_arguments import actor, as_option, model_arg, runtime
from distserver.errors import BadRequest, NotFound
from distserver.extensions import db
from distserver.fingerprint.copies import is_weights, remove_copies_for_ended_grants
from distserver.fingerprint.keys import load_keys, new_key
from distserver.fingerprint.models import FingerprintCopy
from distserver.fingerprint.trace import DEFAULT_THRESHOLD, TraceResult, trace_file, verdict
from distserver.identity import SYSTEM, Principal
from distserver.storage.base import Storage, blob_key


@dataclass(frozen=True)
class Ranked:
    fingerprint_id: str
    key_id: str
    recipients: tuple[str, ...]  # e-mails of the users marked with this id
    z: float
    fraction: float


@dataclass
class TraceReport:
    model: str
    commit: str
    threshold: float
    ranked: list[Ranked] = field(default_factory=list)
    matches: list[Ranked] = field(default_factory=list)
    result: TraceResult | None = None


def trace_suspect(
    session: Session,
    rt: Runtime,
    suspect: Path,
    model: Model,
    revision: Revision,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    actor: Principal | None = None,
) -> TraceReport:
    """Score ``suspect`` against every recipient of a marked copy of ``revision``'s
    weights; record and commit a ``fingerprint:trace:run`` event. BadRequest if the
    suspect cannot be read as safetensors."""
    report = TraceReport(model.ref, revision.commit, threshold)
    weights = {f.sha256 for f in revision.files if is_weights(f.path)}
    rows = list(
        session.scalars(
            select(FingerprintCopy)
            .where(FingerprintCopy.original_sha256.in_(sorted(weights)))
            .order_by(FingerprintCopy.id)
        )
    )
    if rows:
        ring = load_keys(rt.settings)
        ring.require({r.key_id for r in rows})
        users = {
            u.id: u.email
            for u in session.scalars(select(User).where(User.id.in_({r.user_id for r in rows})))
        }
        who: dict[tuple[str, str], list[str]] = {}
        for r in rows:
            names = who.setdefault((r.fingerprint_id, r.key_id), [])
            if users.get(r.user_id, str(r.user_id)) not in names:
                names.append(users.get(r.user_id, str(r.user_id)))
        strength = statistics.median(r.strength for r in rows)
        with _originals(rt.storage, sorted({r.original_sha256 for r in rows})) as original:
            try:
                only = _marked_by(rt, {r.tier for r in rows})
                result = trace_file(suspect, original, list(who), ring.keys, strength, only=only)
            except (ValueError, OSError) as exc:
                raise BadRequest(f"Cannot read {suspect} as safetensors: {exc}") from exc
        report.result = result
        report.ranked = [
            Ranked(s.recipient, str(s.key_id), tuple(who[(s.recipient, str(s.key_id))]), s.z,
                   s.fraction)
            for s in result.scores
        ]  # fmt: skip
        named = {(s.recipient, str(s.key_id)) for s in verdict(result.scores, threshold)}
        report.matches = [r for r in report.ranked if (r.fingerprint_id, r.key_id) in named]
    record(
        session,
        EventTag.FINGERPRINT_TRACE_RUN,
        actor or SYSTEM,
        model=model.ref,
        revision=revision.commit,
        path=str(suspect)[:1024],
        data={
            "threshold": threshold,
            "candidates": len(report.ranked),
            "matches": [
                {
                    "fingerprint_id": m.fingerprint_id,
                    "key_id": m.key_id,
                    "recipients": list(m.recipients),
                    "z": round(m.z, 2),
                }
                for m in report.matches
            ],
            "top_z": round(report.ranked[0].z, 2) if report.ranked else None,
            "tensors_scored": report.result.tensors_scored if report.result else 0,
        },
    )
    session.commit()
    return report


def _marked_by(rt: Runtime, tiers: set[str]) -> Callable[[str], bool] | None:
    """The tensors the copies' tiers marked (None: every markable one)."""
    known = [rt.tiers[t] for t in tiers if t in rt.tiers]
    if not known or any(not t.fingerprint_tensors for t in known):
        return None
    return lambda name: any(t.marks_tensor(name) for t in known)


@contextmanager
def _originals(storage: Storage, shas: list[str]) -> Iterator[Path]:
    """A temporary folder holding the published blobs as .safetensors files: links
    into a local store, streamed copies from any other."""
    with tempfile.TemporaryDirectory(prefix="distserver-trace-") as tmp:
        folder = Path(tmp)
        for i, sha in enumerate(shas):
            dest = folder / f"{i:05d}-{sha[:12]}.safetensors"
            path_for = getattr(storage, "path_for", None)
            if storage.backend == "local" and path_for is not None:
                dest.symlink_to(path_for(blob_key(sha)))
                continue
            with storage.open(blob_key(sha)) as src, dest.open("wb") as out:
                while chunk := src.read(1 << 24):
                    out.write(chunk)
        yield folder


def render(report: TraceReport, suspect: Path, top: int) -> list[str]:
    """The lines `distserver trace` prints."""
    lines = [f"Trace of {suspect} against {report.model} at {report.commit}"]
    if not report.ranked:
        lines.append(
            f"No recipient matches: no one has received a marked copy of {report.model} "
            f"at {report.commit}."
        )
        return lines
    res = report.result
    assert res is not None
    lines.append(
        f"{len(report.ranked)} candidate(s); {res.tensors_scored} tensor(s), "
        f"{res.entries_scored:,} entries scored"
    )
    if res.realigned:
        lines.append("realigned: " + ", ".join(f"{k} ({v})" for k, v in res.realigned.items()))
    if res.skipped:
        lines.append(f"not found or unusable in the suspect: {len(res.skipped)} tensor(s)")
    lines.append(f"{'rank':>4}  {'z':>9}  {'mark':>5}  {'fingerprint':<16} {'key':<10} recipient")
    for i, r in enumerate(report.ranked[:top], 1):
        flag = "  <- above threshold" if r in report.matches else ""
        lines.append(
            f"{i:>4}  {r.z:>9.2f}  {r.fraction:>5.2f}  {r.fingerprint_id:<16} {r.key_id:<10} "
            f"{', '.join(r.recipients)}{flag}"
        )
    if len(report.ranked) > top:
        lines.append(f"      ... {len(report.ranked) - top} more below")
    if report.matches:
        for m in report.matches:
            lines.append(
                f"MATCH: {', '.join(m.recipients)} (fingerprint {m.fingerprint_id}, key "
                f"{m.key_id}): z = {m.z:.1f} >= {report.threshold:g}"
            )
    else:
        lines.append(
            f"No recipient matches: the highest z is {report.ranked[0].z:.2f}, below the "
            f"threshold {report.threshold:g}."
        )
    if res.tensors_scored == 0:
        lines.append("Note: no weight matrix of the original was found in the suspect.")
    return lines


@click.command("trace")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--model", "model_ref", required=True, metavar="NS/NAME")
@click.option("--revision", default="main", show_default=True, help="Commit id, or main.")
@click.option("--threshold", type=float, default=DEFAULT_THRESHOLD, show_default=True)
@click.option("--top", type=click.IntRange(1), default=20, show_default=True, help="Rows shown.")
@as_option
@with_appcontext
def trace(
    path: Path, model_ref: str, revision: str, threshold: float, top: int, as_email: str | None
) -> None:
    """Name whose marked copy the .safetensors file or folder PATH is."""
    model = model_arg(model_ref)
    rev = resolve_revision(db.session, model, revision)
    if rev is None:
        raise NotFound(f"{model.ref} has no revision {revision!r}.")
    report = trace_suspect(
        db.session, runtime(), path, model, rev, threshold=threshold, actor=actor(as_email)
    )
    for line in render(report, path, top):
        click.echo(line)


@click.group()
def fingerprints() -> None:
    """Marked copies of the weights of fingerprinted tiers."""


@fingerprints.command("prune")
@as_option
@with_appcontext
def prune(as_email: str | None) -> None:
    """Remove the copies of recipients whose fingerprinted grant has ended."""
    removed = remove_copies_for_ended_grants(db.session, runtime(), actor=actor(as_email))
    for row in removed:
        click.echo(f"removed {row.storage_key} (user {row.user_id}, {row.path})")
    click.echo(f"removed {len(removed)} cop{'y' if len(removed) == 1 else 'ies'}")


@fingerprints.command("copies")
@click.option("--model", "model_ref", default=None, metavar="NS/NAME", help="Only this model.")
@with_appcontext
def copies_command(model_ref: str | None) -> None:
    """Storage used by marked copies per recipient and in total, and the copies still
    being prepared (pending, running or failed)."""
    from distserver.fingerprint.copy_reports import copy_overview
    from distserver.fingerprint.preparation import progress_of

    model_id = model_arg(model_ref).id if model_ref else None
    overview = copy_overview(db.session, model_id)
    report = overview.recipients
    click.echo("recipient	copies	bytes	pending	pending_bytes")
    for r in report:
        click.echo(f"{r.email}\t{r.copies}\t{r.copy_bytes}\t{r.pending}\t{r.pending_bytes}")
    sums = [sum(getattr(r, f) for r in report) for f in ("copies", "copy_bytes", "pending")]
    pending_bytes = sum(r.pending_bytes for r in report)
    click.echo(f"total\t{sums[0]}\t{sums[1]}\t{sums[2]}\t{pending_bytes}")
    for task in overview.pending:
        p = progress_of(task).as_dict()
        click.echo(f"preparing user {task.user_id} {task.path}: {p['state']} {p['percent']}%")


@fingerprints.command("keys")
@with_appcontext
def keys() -> None:
    """List the configured key ids and which one marks new copies."""
    ring = load_keys(runtime().settings)
    for key_id in sorted(ring.keys):
        click.echo(f"{key_id}{'  (active)' if key_id == ring.active_id else ''}")


@fingerprints.command("new-key")
def new_key_command() -> None:
    """Print a fresh random master key (base64) to add to FINGERPRINT_KEYS."""
    click.echo(new_key())
