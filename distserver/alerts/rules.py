"""Alert rules, declared as TOML in `<tiers>/alerts/rules.toml` and loaded into frozen
dataclasses at start-up, validated like the tiers: a file that does not validate stops
start-up with a sentence naming the file, the rule and the field. A missing file, or
a rule left out of it, means the defaults below; `enabled = false` turns a rule off.

Every window is a tumbling window aligned to the Unix epoch (a "1h" window starts on
the hour), so an alert's key (rule, principal, window start) is the same whichever run
or host finds it."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from distserver.access.tiers import FieldReader, read_toml
from distserver.errors import ConfigError

RULES_FILE = Path("alerts") / "rules.toml"
BRAKES = ("none", "suspend_tokens")
GROUPINGS = ("address", "network")
DAY = 86400


@dataclass(frozen=True)
class Rule:
    """What every rule has. `brake` "suspend_tokens" suspends the principal's API
    tokens when the rule raises an alert, until a person acknowledges it."""

    name: str
    enabled: bool = True
    brake: str = "none"


@dataclass(frozen=True)
class SharedCredential(Rule):
    """One account used from more than `max_addresses` distinct client addresses (or
    networks, with by = "network") within one window."""

    max_addresses: int = 3
    window: int = 3600
    by: str = "address"


@dataclass(frozen=True)
class RepeatDownload(Rule):
    """One account fetching the same file more than `max_per_file` times in a UTC day,
    or every file of a model's revision more than `max_whole_model` times."""

    max_per_file: int = 20
    max_whole_model: int = 5


@dataclass(frozen=True)
class RefusalBurst(Rule):
    """More than `max_refusals` refused link requests for one account (or, signed
    out, one address) within one window: probing names or paths."""

    max_refusals: int = 20
    window: int = 600


@dataclass(frozen=True)
class AnonymousShare(Rule):
    """Anonymous downloads of a model from one network above `max_share` of the
    model's downloads that UTC day, once the day has `min_downloads` of them."""

    max_share: float = 0.5
    min_downloads: int = 50


@dataclass(frozen=True)
class AfterHalt(Rule):
    """A download within `within` seconds after a halt was lifted, by an account
    refused (reason "halted") during that halt."""

    within: int = 1800


@dataclass(frozen=True)
class SharedLink(Rule):
    """A signed link fetched from an address other than its requester's, or more than
    `max_fetches` times (read from the storage's access records)."""

    max_fetches: int = 3


@dataclass(frozen=True)
class AlertRules:
    contact: str
    shared_credential: SharedCredential
    repeat_download: RepeatDownload
    refusal_burst: RefusalBurst
    anonymous_share: AnonymousShare
    after_halt: AfterHalt
    shared_link: SharedLink

    def by_name(self) -> dict[str, Rule]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "contact"}


DEFAULT_CONTACT = "the server's operators"
DEFAULTS = AlertRules(
    contact=DEFAULT_CONTACT,
    shared_credential=SharedCredential("shared_credential"),
    repeat_download=RepeatDownload("repeat_download"),
    refusal_burst=RefusalBurst("refusal_burst"),
    anonymous_share=AnonymousShare("anonymous_share"),
    after_halt=AfterHalt("after_halt"),
    shared_link=SharedLink("shared_link"),
)
RULE_NAMES = tuple(DEFAULTS.by_name())


def _positive(r: FieldReader, key: str, default: int) -> int:
    value = r.get(key, int, default)
    if value < 1:
        raise r.fail(key, f"must be at least 1, got {value}")
    return value


def _window(r: FieldReader, key: str, default: int) -> int:
    value = r.duration(key, default)
    if not 1 <= value <= DAY:
        raise r.fail(key, f"must be between 1 second and 1 day, got {value} seconds")
    if key == "window" and DAY % value:
        raise r.fail(key, f"must divide a day evenly (like '10m', '1h', '6h'), got {value} s")
    return value


def _parse_rule(path: Path, name: str, table: Any, default: Rule) -> Rule:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: rule [{name}] must be a table")
    r = FieldReader(path, table, f"{name}.")
    known = {f.name for f in fields(default)} - {"name"}
    r.unknown(known)
    values: dict[str, Any] = {
        "enabled": r.get("enabled", bool, default.enabled),
        "brake": r.choice("brake", BRAKES, default.brake),
    }
    for f in fields(default):
        if f.name in ("name", "enabled", "brake"):
            continue
        current = getattr(default, f.name)
        if f.name in ("window", "within"):
            values[f.name] = _window(r, f.name, current)
        elif f.name == "by":
            values[f.name] = r.choice("by", GROUPINGS, current)
        elif f.name == "max_share":
            share = float(r.get("max_share", (int, float), current))
            if not 0 < share < 1:
                raise r.fail("max_share", f"must be between 0 and 1, got {share}")
            values[f.name] = share
        else:
            values[f.name] = _positive(r, f.name, current)
    return replace(default, **values)


def load_rules(tiers_dir: Path) -> AlertRules:
    """The rules of `<tiers_dir>/alerts/rules.toml`, or the defaults without one."""
    path = tiers_dir / RULES_FILE
    if not path.is_file():
        return DEFAULTS
    data = read_toml(path)
    contact = data.pop("contact", DEFAULT_CONTACT)
    if not isinstance(contact, str) or not contact.strip():
        raise ConfigError(f"{path}: field 'contact' must be a non-empty string")
    defaults = DEFAULTS.by_name()
    parsed: dict[str, Rule] = dict(defaults)
    for name, table in data.items():
        if name not in defaults:
            raise ConfigError(
                f"{path}: [{name}] is not a known rule (known: {', '.join(RULE_NAMES)})"
            )
        parsed[name] = _parse_rule(path, name, table, defaults[name])
    return AlertRules(contact=contact.strip(), **parsed)  # type: ignore[arg-type]


def window_start(seconds: float, window: int) -> int:
    """The start (Unix seconds) of the tumbling `window` holding `seconds`."""
    return int(seconds // window) * window
