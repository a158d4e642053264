"""Release plans: ordered stages, each naming the tiers it admits and the gate a
model must clear to enter it. Declared in tiers/plans/*.toml, validated at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from distserver.access.tiers import NAME_RE, FieldReader, Tier, read_toml
from distserver.errors import ConfigError


@dataclass(frozen=True)
class Gate:
    evaluations: tuple[str, ...] = ()
    signoffs: int = 0
    min_days: float = 0
    not_before: datetime | None = None
    # Whether each new revision must clear this gate itself.
    per_revision: bool = True


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    tiers: tuple[str, ...]
    gate: Gate


@dataclass(frozen=True)
class Plan:
    name: str
    title: str
    stages: tuple[Stage, ...]

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def index(self, name: str) -> int:
        return [s.name for s in self.stages].index(name)

    def next_stage(self, name: str) -> Stage | None:
        i = self.index(name)
        return self.stages[i + 1] if i + 1 < len(self.stages) else None

    def previous_stage(self, name: str) -> Stage | None:
        i = self.index(name)
        return self.stages[i - 1] if i > 0 else None


def parse_gate(r: FieldReader) -> Gate:
    r.unknown({"evaluations", "signoffs", "min_days", "not_before", "per_revision"})
    not_before = r.get("not_before", datetime, None)
    if not_before is not None and not_before.tzinfo is None:
        raise r.fail("not_before", "must carry a time zone, e.g. 2027-01-01T09:00:00Z")
    signoffs = r.get("signoffs", int, 0)
    if signoffs < 0:
        raise r.fail("signoffs", "must not be negative")
    return Gate(
        evaluations=tuple(r.get("evaluations", list, [])),
        signoffs=signoffs,
        min_days=float(r.get("min_days", (int, float), 0)),
        not_before=not_before,
        per_revision=r.get("per_revision", bool, True),
    )


def parse_plan(path: Path, tiers: dict[str, Tier]) -> Plan:
    r = FieldReader(path, read_toml(path))
    r.unknown({"name", "title", "stages"})
    name = r.get("name", str, path.stem)
    stages: list[Stage] = []
    for i, raw in enumerate(r.get("stages", list)):
        s = FieldReader(path, raw, f"stages[{i}].")
        s.unknown({"name", "title", "tiers", "gate"})
        stage_name = s.get("name", str)
        if not NAME_RE.match(stage_name):
            raise s.fail("name", "must be lowercase letters, digits, '_' or '-'")
        admitted = tuple(s.get("tiers", list))
        for t in admitted:
            if t not in tiers:
                raise s.fail(
                    "tiers", f"names tier {t!r}, which no file in the tiers folder defines"
                )
        gate = parse_gate(FieldReader(path, s.get("gate", dict, {}), f"stages[{i}].gate."))
        stages.append(Stage(stage_name, s.get("title", str, stage_name), admitted, gate))
    if not stages:
        raise r.fail("stages", "must list at least one stage")
    if len({s.name for s in stages}) != len(stages):
        raise r.fail("stages", "repeats a stage name")
    return Plan(name, r.get("title", str, name), tuple(stages))


def load_plans(tiers_dir: Path, tiers: dict[str, Tier]) -> dict[str, Plan]:
    plans = {
        p.name: p for p in (parse_plan(f, tiers) for f in sorted(tiers_dir.glob("plans/*.toml")))
    }
    if "default" not in plans:
        raise ConfigError(f"{tiers_dir / 'plans'}: a plan named 'default' is required")
    return plans
