"""Tiers and agreements, declared as TOML in the tiers folder and loaded into frozen
dataclasses at start-up. A file that does not validate stops start-up with a
sentence naming the file and the field."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from distserver.errors import ConfigError
from distserver.storage.base import MAX_LINK_TTL

QUALIFICATIONS = ("open", "click_through", "application", "organization")
APPROVALS = ("manual", "auto")
FIELD_TYPES = ("text", "textarea", "checkbox", "select", "country", "date")
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
DURATION_RE = re.compile(r"^(\d+)\s*([smhd])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    type: str = "text"
    required: bool = True
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Agreement:
    name: str
    version: str
    text: str
    sha256: str


@dataclass(frozen=True)
class Tier:
    name: str
    title: str
    qualification: str
    login_required: bool
    link_ttl: int
    daily_quota: int | None
    grant_days: int | None
    priority: int = 0
    approval: str = "manual"
    cooldown_days: int = 0
    fingerprint: bool = False
    fingerprint_strength: float = 0.005
    # Which weight matrices carry the mark, as glob patterns on tensor names (empty:
    # every 2-D float matrix). A weights file with no matching tensor is served as
    # published and never copied: the storage budget (docs/fingerprinting.md).
    fingerprint_tensors: tuple[str, ...] = ()
    agreement: Agreement | None = None
    form: tuple[FormField, ...] = field(default_factory=tuple)
    # Per-model extra terms, keyed by "ns/name" (from tiers/models/<ns>__<name>.toml).
    extras: Mapping[str, ModelTerms] = field(default_factory=dict, hash=False, compare=False)

    def marks_tensor(self, name: str) -> bool:
        """Whether a markable tensor of this name carries this tier's mark."""
        return not self.fingerprint_tensors or any(
            fnmatchcase(name, p) for p in self.fingerprint_tensors
        )

    def agreements_for(self, model_ref: str) -> tuple[Agreement, ...]:
        """Every agreement one must accept to stand in this tier for `model_ref`."""
        extra = self.extras.get(model_ref)
        own = (self.agreement,) if self.agreement else ()
        return own + ((extra.agreement,) if extra and extra.agreement else ())

    def form_for(self, model_ref: str) -> tuple[FormField, ...]:
        """The tier's form fields followed by the model's own."""
        extra = self.extras.get(model_ref)
        return self.form + (extra.form if extra else ())


@dataclass(frozen=True)
class ModelTerms:
    """What one model adds to a tier: its own agreement and extra form fields."""

    agreement: Agreement | None = None
    form: tuple[FormField, ...] = ()


class FieldReader:
    """Reads typed fields from one TOML table and names the file and field on error."""

    def __init__(self, path: Path, data: dict[str, Any], prefix: str = ""):
        self.path, self.data, self.prefix = path, data, prefix

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: field '{self.prefix}{key}' {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise self.fail(key, "is required")
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind is int:
            raise self.fail(key, "must be a whole number")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(key, f"must be a {names}, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def duration(self, key: str, default: Any = ...) -> int:
        value = self.get(key, (int, str), default)
        if isinstance(value, str):
            match = DURATION_RE.match(value.strip())
            if not match:
                raise self.fail(key, f"must be seconds or like '15m', '2h', '1d', got {value!r}")
            value = int(match.group(1)) * UNITS[match.group(2)]
        return value

    def unknown(self, known: set[str]) -> None:
        extra = sorted(set(self.data) - known)
        if extra:
            raise self.fail(extra[0], f"is not a known field (known: {', '.join(sorted(known))})")


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_agreement(tiers_dir: Path, name: str, version: str, source: Path) -> Agreement:
    path = tiers_dir / "agreements" / f"{name}.md"
    if not path.is_file():
        raise ConfigError(f"{source}: field 'agreement.name' names {path}, which does not exist")
    raw = path.read_bytes()
    return Agreement(name, version, raw.decode("utf-8"), hashlib.sha256(raw).hexdigest())


TIER_FIELDS = {
    "name", "title", "qualification", "login_required", "link_ttl", "daily_quota",
    "grant_days", "priority", "approval", "cooldown_days", "fingerprint",
    "fingerprint_strength", "fingerprint_tensors", "agreement", "form",
}  # fmt: skip


def parse_tier(path: Path, data: dict[str, Any], tiers_dir: Path) -> Tier:
    r = FieldReader(path, data)
    r.unknown(TIER_FIELDS)
    name = r.get("name", str)
    if not NAME_RE.match(name):
        raise r.fail("name", "must be lowercase letters, digits, '_' or '-'")
    qualification = r.choice("qualification", QUALIFICATIONS)
    ttl = r.duration("link_ttl")
    if not 1 <= ttl <= MAX_LINK_TTL:
        raise r.fail("link_ttl", f"must be between 1 second and 7 days, got {ttl} seconds")
    quota = r.get("daily_quota", int, None)
    if quota is not None and quota < 0:
        raise r.fail("daily_quota", "must not be negative")
    grant_days = r.get("grant_days", int, None)
    agreement = None
    if "agreement" in data:
        a = FieldReader(path, r.get("agreement", dict), "agreement.")
        a.unknown({"name", "version"})
        agreement = load_agreement(tiers_dir, a.get("name", str), str(a.get("version", str)), path)
    if qualification == "click_through" and agreement is None:
        raise r.fail("agreement", "is required when qualification is 'click_through'")
    form = parse_form(path, r)
    strength = float(r.get("fingerprint_strength", (int, float), 0.005))
    if not 0 < strength < 0.1:
        raise r.fail("fingerprint_strength", "must be between 0 and 0.1")
    patterns = r.get("fingerprint_tensors", list, [])
    if not all(isinstance(p, str) and p for p in patterns):
        raise r.fail("fingerprint_tensors", "must be a list of tensor name patterns")
    return Tier(
        name=name,
        title=r.get("title", str, name.replace("_", " ").title()),
        qualification=qualification,
        login_required=r.get("login_required", bool, qualification != "open"),
        link_ttl=ttl,
        daily_quota=quota,
        grant_days=grant_days,
        priority=r.get("priority", int, 0),
        approval=r.choice("approval", APPROVALS, "manual"),
        cooldown_days=r.get("cooldown_days", int, 0),
        fingerprint=r.get("fingerprint", bool, False),
        fingerprint_strength=strength,
        fingerprint_tensors=tuple(patterns),
        agreement=agreement,
        form=tuple(form),
    )


def parse_form(path: Path, r: FieldReader) -> tuple[FormField, ...]:
    form: list[FormField] = []
    for i, raw in enumerate(r.get("form", list, [])):
        f = FieldReader(path, raw, f"{r.prefix}form[{i}].")
        f.unknown({"name", "label", "type", "required", "choices"})
        kind = f.choice("type", FIELD_TYPES, "text")
        choices = tuple(str(c) for c in f.get("choices", list, []))
        if kind == "select" and not choices:
            raise f.fail("choices", "is required for a select field")
        name = f.get("name", str)
        if not NAME_RE.match(name) or name in {x.name for x in form}:
            raise f.fail("name", "must be a unique lowercase name")
        form.append(
            FormField(name, f.get("label", str), kind, f.get("required", bool, True), choices)
        )
    return tuple(form)


def load_model_terms(tiers_dir: Path, tiers: dict[str, Tier]) -> dict[str, Tier]:
    """Attach per-model terms from `tiers/models/<ns>__<name>.toml`, whose tables are
    named after tiers: `[researcher]` with an optional `agreement = {name, version}`
    (a Markdown file in tiers/agreements/) and `[[researcher.form]]` fields, which
    come after the tier's own fields on that model's application form."""
    folder = tiers_dir / "models"
    extras: dict[str, dict[str, ModelTerms]] = {}
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        ns, sep, name = path.stem.partition("__")
        if not sep or not NAME_RE.match(ns.lower()) or not name:
            raise ConfigError(f"{path}: name the file <namespace>__<name>.toml")
        for tier_name, table in read_toml(path).items():
            r = FieldReader(path, table if isinstance(table, dict) else {}, f"{tier_name}.")
            if tier_name not in tiers or not isinstance(table, dict):
                raise ConfigError(f"{path}: table [{tier_name}] does not name a tier")
            r.unknown({"agreement", "form"})
            agreement = None
            if "agreement" in table:
                a = FieldReader(path, r.get("agreement", dict), f"{tier_name}.agreement.")
                a.unknown({"name", "version"})
                agreement = load_agreement(
                    tiers_dir, a.get("name", str), str(a.get("version", (str, int))), path
                )
            form = parse_form(path, r)
            clash = {f.name for f in form} & {f.name for f in tiers[tier_name].form}
            if clash:
                raise r.fail("form", f"repeats the tier's field {sorted(clash)[0]!r}")
            extras.setdefault(tier_name, {})[f"{ns}/{name}"] = ModelTerms(agreement, form)
    return {n: replace(t, extras=extras.get(n, {})) for n, t in tiers.items()}


def load_tiers(tiers_dir: Path) -> dict[str, Tier]:
    if not tiers_dir.is_dir():
        raise ConfigError(f"{tiers_dir}: the tiers folder does not exist (DISTSERVER_TIERS_DIR)")
    tiers: dict[str, Tier] = {}
    for path in sorted(tiers_dir.glob("*.toml")):
        tier = parse_tier(path, read_toml(path), tiers_dir)
        if tier.name in tiers:
            raise ConfigError(f"{path}: field 'name' repeats tier {tier.name!r}")
        tiers[tier.name] = tier
    if not tiers:
        raise ConfigError(f"{tiers_dir}: no tier definitions (*.toml) found")
    return load_model_terms(tiers_dir, tiers)
