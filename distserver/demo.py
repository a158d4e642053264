"""`distserver demo`: a fresh instance on SQLite and local storage, seeded with
staff and non-staff users, three small real models and a token per user, serving
on loopback until stopped.

Development only, so that a newcomer can try the browser tour at once: every user
gets a password the demo prints, and every staff user an enrolled authenticator
whose secret and `otpauth://` URI the demo prints (`distserver users totp-code
EMAIL` prints the current code). The seeded state the README's browser tour walks
through: a pending application (visitor, researcher tier on acme/tiny-llm) and
acme/tiny-preview at its first stage with one of the two sign-offs of its gate."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from safetensors.numpy import save_file

MARKER = ".distserver-demo"
USERS = {
    "admin@example.org": ("admin", "safety"),
    "safety@example.org": ("safety",),
    # A second safety lead, whose sign-off of acme/tiny-preview's gate is seeded.
    "signer@example.org": ("safety",),
    "reviewer@example.org": ("reviewer",),
    "auditor@example.org": ("auditor",),
    "researcher@example.org": (),
    "partner@example.org": (),
    "visitor@example.org": (),
}
CARD = """---
license: apache-2.0
language:
- en
tags:
- demo
---
# tiny-llm

A tiny two-layer model, published to show staged release. Its weights are
random: it exists so that every step of the download path can be tried.
"""

PREVIEW_CARD = """---
license: apache-2.0
language:
- en
tags:
- demo
---
# tiny-preview

The same tiny model, still at its first stage (internal): the browser tour records
its evaluations, signs off its gate and promotes it to partner preview.
"""


@dataclass(frozen=True)
class DemoUser:
    """What the demo prints for one seeded user."""

    email: str
    roles: tuple[str, ...]
    password: str
    token: str
    totp_secret: str | None = None
    totp_uri: str | None = None


def write_demo_model(directory: Path, seed: int = 7) -> None:
    """A small real model: safetensors weights, a config and a card."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tensors = {
        "embed.weight": rng.normal(0, 0.02, (512, 64)).astype(np.float32),
        "layers.0.mlp.up.weight": rng.normal(0, 0.02, (256, 64)).astype(np.float32),
        "layers.0.mlp.down.weight": rng.normal(0, 0.02, (64, 256)).astype(np.float32),
        "layers.0.norm.weight": np.ones(64, dtype=np.float32),
    }
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "np"})
    config = {"architectures": ["TinyLM"], "hidden_size": 64, "vocab_size": 512, "num_layers": 1}
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (directory / "README.md").write_text(CARD)


def prepare_instance(directory: Path) -> None:
    if directory.exists():
        if not (directory / MARKER).exists():
            raise click.ClickException(
                f"{directory} exists and is not a demo instance; choose another --dir."
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("made by distserver demo; deleted by the next one\n")


def demo_password() -> str:
    """A password a person can type: four groups of four lowercase letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def enrol_authenticator(session, user) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Turn on a staff user's second factor at once (demo only) and return its secret
    and otpauth:// URI, as the account page would after a proved first code."""
    from distserver.accounts import totp
    from distserver.accounts.services import principal_for
    from distserver.audit.service import record
    from distserver.audit.tags import EventTag
    from distserver.db import utcnow

    secret = totp.new_secret()
    user.totp_secret = totp.encrypt_secret(secret)
    user.totp_enabled_at = utcnow()
    record(session, EventTag.SECOND_FACTOR_ENROLLED, principal_for(user, "cli"), data={})
    session.commit()
    return secret, totp.provisioning_uri(secret, user.email)


def seed(app, directory: Path) -> list[DemoUser]:  # type: ignore[no-untyped-def]
    from distserver.access.applications import submit
    from distserver.access.services import accept_agreement, add_grant
    from distserver.accounts.services import create_token, create_user, principal_for
    from distserver.app_runtime import current_runtime
    from distserver.catalog.publish import publish
    from distserver.catalog.services import create_model
    from distserver.catalog.tags import tag_revision
    from distserver.errors import ConfigError
    from distserver.extensions import db, upgrade_database
    from distserver.identity import SYSTEM
    from distserver.releases.services import seed_stage, signoff

    if app.config.get("ENV") != "development":
        raise ConfigError("The demo seeds printed passwords and runs in development only.")
    upgrade_database(app)
    with app.app_context():
        rt = current_runtime()
        session = db.session
        seeded: list[DemoUser] = []
        users = {}
        for email, roles in USERS.items():
            password = demo_password()
            users[email] = create_user(
                session, email, roles=roles, password=password, email_verified=True
            )
            token = create_token(session, users[email], name="demo", expires_days=30).raw
            secret, uri = enrol_authenticator(session, users[email]) if roles else (None, None)
            seeded.append(DemoUser(email, roles, password, token, secret, uri))
        source = directory / "source" / "tiny-llm"
        write_demo_model(source)
        admin = principal_for(users["admin@example.org"], "cli")
        models = {}
        for ref, title, plan, stage, card, publisher in (
            ("acme/tiny-llm", "Tiny LLM", "default", "research-access", CARD, admin),
            ("acme/tiny-open", "Tiny LLM, open", "open", None, CARD, admin),
            # Published by the operator at the shell, so every safety lead may sign off.
            ("acme/tiny-preview", "Tiny LLM preview", "default", None, PREVIEW_CARD, SYSTEM),
        ):
            ns, name = ref.split("/")
            model = create_model(
                session, ns, name, plan=rt.plans[plan], title=title, card=card, actor=SYSTEM
            )
            revision = publish(
                session,
                rt.storage,
                model,
                source,
                actor=publisher,
                journal_path=directory / "journal.json",
            )
            tag_revision(session, model, revision, "v1.0", publisher)
            if stage:
                seed_stage(session, model, stage, rt.plans)
            models[ref] = model
        researcher, partner = users["researcher@example.org"], users["partner@example.org"]
        add_grant(session, researcher, rt.tiers["researcher"], None, days=365, actor=admin)
        accept_agreement(
            session, researcher, rt.tiers["researcher"], principal_for(researcher, "cli")
        )
        add_grant(session, partner, rt.tiers["vetted_partner"], None, days=180, actor=admin)
        accept_agreement(
            session, partner, rt.tiers["vetted_partner"], principal_for(partner, "cli")
        )
        visitor = users["visitor@example.org"]
        tier = rt.tiers["researcher"]
        submit(
            session,
            rt.tiers,
            visitor,
            models["acme/tiny-llm"],
            "researcher",
            {"affiliation": "Example University", "intended_use": "Trying the demo's tour."},
            actor=principal_for(visitor, "cli"),
            agreement_sha256=tier.agreement.sha256 if tier.agreement else None,
        )
        signer = principal_for(users["signer@example.org"], "cli")
        signoff(session, models["acme/tiny-preview"], rt.plans, signer, note="seeded by the demo")
        return seeded


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=Path("demo-instance"),
    show_default=True,
)
def demo(port: int, directory: Path) -> None:
    """A fresh demo instance on SQLite and local storage, seeded; serves until stopped."""
    from distserver import create_app

    directory = directory.resolve()
    prepare_instance(directory)
    base = f"http://127.0.0.1:{port}"
    settings = {
        "ENV": "development",
        "EXTERNAL_URL": base,
        "INSTANCE_DIR": str(directory),
        "DATABASE_URL": f"sqlite:///{directory / 'distserver.sqlite3'}",
        "STORAGE": "local",
        # No SECRET_KEY: development generates one into the instance folder, where the
        # CLI of a second terminal (DISTSERVER_INSTANCE_DIR from tokens.env) finds it.
    }
    app = create_app(settings)
    seeded = seed(app, directory)
    # No Redis: jobs (mail, webhooks, sealing, embargoes...) run in threads of this
    # process, and so does their periodic schedule, once the database is migrated.
    from distserver.jobs import job_runtime
    from distserver.jobs.schedule import start_in_process_scheduler

    job_runtime(app).scheduler = start_in_process_scheduler(app)
    # The settings a second terminal needs for `distserver users totp-code` to find
    # this instance (its SQLite file and the secret key that encrypts TOTP secrets).
    env_lines = [
        f"export DISTSERVER_URL={base}",
        "export DISTSERVER_ENV=development",
        f"export DISTSERVER_INSTANCE_DIR={directory}",
    ] + [f"export {u.email.split('@')[0].upper()}_TOKEN={u.token}" for u in seeded]
    (directory / "tokens.env").write_text("\n".join(env_lines) + "\n")
    os.chmod(directory / "tokens.env", 0o600)
    click.echo(f"\ndistserver demo at {base}  (instance: {directory})\n")
    click.echo("Users, their passwords (development only) and API tokens (also in tokens.env):")
    for u in seeded:
        roles = ", ".join(u.roles) or "no staff role"
        click.echo(f"  {u.email:<26} {roles:<15} password {u.password}  token {u.token}")
    click.echo(
        "\nStaff sign in with a second factor. Add a secret to an authenticator app, or "
        "print the current code with `distserver users totp-code EMAIL` (after sourcing "
        "tokens.env):"
    )
    for u in seeded:
        if u.totp_secret:
            click.echo(f"  {u.email:<26} secret {u.totp_secret}  {u.totp_uri}")
    click.echo(
        "\nModels: acme/tiny-llm (stage research-access), acme/tiny-open (public), "
        "acme/tiny-preview (internal, one sign-off of two)"
    )
    click.echo("Waiting for review: visitor@example.org's application for acme/tiny-llm")
    click.echo(f"\nTry it:\n  source {directory / 'tokens.env'}")
    click.echo(
        '  curl -s -X POST -H "Authorization: Bearer $RESEARCHER_TOKEN" '
        '-d \'{"path": "model.safetensors"}\' '
        "$DISTSERVER_URL/api/v1/models/acme/tiny-llm/links"
    )
    click.echo(f"  or sign in at {base}/login\n")
    # app.run() refuses to serve inside a Flask CLI command; werkzeug's server is the same one.
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)
