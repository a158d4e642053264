"""The doors' one guard: who is asking, and whether they may see the model they name.
The native API, the Hugging Face door and the web pages all ask here, so "signed in"
and "a model you may not see is answered as one that does not exist" are written once.
Each door phrases the refusal its own way (JSON, a page, the Hub's shape) from the
DistserverError raised here."""

from __future__ import annotations

from distserver.access.policy import ModelFacts, may_see
from distserver.accounts.sessions import current_principal
from distserver.app_runtime import current_runtime
from distserver.catalog.models import Model
from distserver.catalog.names import check_names
from distserver.catalog.services import find_model
from distserver.errors import Forbidden, NotFound
from distserver.extensions import db
from distserver.identity import Principal, require_signed_in
from distserver.releases.services import model_facts


def principal(scope: str = "read") -> Principal:
    """The caller, signed in by a session or by a token that holds `scope`; Unauthorized
    (login_required) for an anonymous caller."""
    who = current_principal(scope=scope)
    require_signed_in(who)
    return who


def active_principal(scope: str = "read") -> Principal:
    """`principal(scope)`, and Forbidden (suspended) for a suspended account."""
    who = principal(scope)
    if who.suspended:
        raise Forbidden("Your account is suspended.", code="suspended")
    return who


def require_visible(model: Model | None, ref: str, who: Principal) -> ModelFacts:
    """The policy's facts for `model` if `who` may see it; NotFound otherwise, worded
    exactly as for a model that does not exist (`ref` is the name that was asked for)."""
    facts = model_facts(db.session, model, current_runtime().plans) if model else None
    if model is None or facts is None or not may_see(who, facts):
        raise NotFound(f"No model {ref}.", code="not_found")
    return facts


def visible_model(namespace: str, name: str, who: Principal) -> Model:
    """The model `namespace/name` if `who` may see it (BadRequest for a malformed name,
    NotFound for a missing or hidden model)."""
    check_names(namespace, name)
    model = find_model(db.session, namespace, name)
    require_visible(model, f"{namespace}/{name}", who)
    assert model is not None
    return model


def staff_model(
    namespace: str, name: str, roles: frozenset[str], *, scope: str
) -> tuple[Principal, Model]:
    """A signed-in caller holding one of `roles` and a model they may see. The model is
    looked up before the role is checked, so a caller without the role learns nothing
    about which model names exist beyond what they may see."""
    check_names(namespace, name)
    who = principal(scope)
    model = visible_model(namespace, name, who)
    if who.suspended or not who.roles & roles:
        raise Forbidden(f"Only {' or '.join(sorted(roles))} staff may do this.", code="forbidden")
    return who, model
