"""`distserver demo`: a fresh instance on SQLite and local storage, seeded with
staff and non-staff users, two small real models and a token per user, serving
on loopback until stopped."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

import click
import numpy as np
from safetensors.numpy import save_file

MARKER = ".distserver-demo"
USERS = {
    "admin@example.org": ("admin", "safety"),
    "safety@example.org": ("safety",),
    "reviewer@example.org": ("reviewer",),
    "auditor@example.org": ("auditor",),
    "researcher@example.org": (),
    "partner@example.org": (),
    "visitor@example.org": (),
}
CARD = """# tiny-llm

A tiny two-layer model, published to show staged release. Its weights are
random: it exists so that every step of the download path can be tried.
"""


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


def seed(app, directory: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from flask_migrate import upgrade

    from distserver.access.services import accept_agreement, add_grant
    from distserver.accounts.services import create_token, create_user, principal_for
    from distserver.audit.service import SYSTEM
    from distserver.catalog.publish import publish
    from distserver.catalog.services import create_model
    from distserver.extensions import db
    from distserver.releases.services import seed_stage
    from distserver.runtime import current_runtime

    with app.app_context():
        upgrade()
        rt = current_runtime()
        session = db.session
        tokens: dict[str, str] = {}
        users = {}
        for email, roles in USERS.items():
            users[email] = create_user(session, email, roles=roles, password=None)
            tokens[email] = create_token(session, users[email], name="demo", expires_days=30).raw
        source = directory / "source" / "tiny-llm"
        write_demo_model(source)
        admin = principal_for(users["admin@example.org"], "cli")
        for ref, plan, stage in (
            ("acme/tiny-llm", "default", "research-access"),
            ("acme/tiny-open", "open", None),
        ):
            ns, name = ref.split("/")
            model = create_model(
                session, ns, name, plan=rt.plans[plan], title=name, card=CARD, actor=SYSTEM
            )
            publish(
                session,
                rt.storage,
                model,
                source,
                actor=admin,
                journal_path=directory / "journal.json",
            )
            if stage:
                seed_stage(session, model, stage, rt.plans)
        researcher, partner = users["researcher@example.org"], users["partner@example.org"]
        add_grant(session, researcher, rt.tiers["researcher"], None, days=365, actor=admin)
        accept_agreement(
            session, researcher, rt.tiers["researcher"], principal_for(researcher, "cli")
        )
        add_grant(session, partner, rt.tiers["vetted_partner"], None, days=180, actor=admin)
        accept_agreement(
            session, partner, rt.tiers["vetted_partner"], principal_for(partner, "cli")
        )
        return tokens


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
        "SECRET_KEY": secrets.token_urlsafe(48),
    }
    app = create_app(settings)
    tokens = seed(app, directory)
    # No Redis: jobs (mail, webhooks, sealing, embargoes...) run in threads of this
    # process, and so does their periodic schedule, once the database is migrated.
    from distserver.jobs import job_runtime
    from distserver.jobs.schedule import start_in_process_scheduler

    job_runtime(app).scheduler = start_in_process_scheduler(app)
    env_lines = [f"export DISTSERVER_URL={base}"] + [
        f"export {email.split('@')[0].upper()}_TOKEN={token}" for email, token in tokens.items()
    ]
    (directory / "tokens.env").write_text("\n".join(env_lines) + "\n")
    os.chmod(directory / "tokens.env", 0o600)
    click.echo(f"\ndistserver demo at {base}  (instance: {directory})\n")
    click.echo("Users and their API tokens (also in tokens.env):")
    for email, token in tokens.items():
        roles = ", ".join(USERS[email]) or "no staff role"
        click.echo(f"  {email:<26} {roles:<15} {token}")
    click.echo("\nModels: acme/tiny-llm (stage research-access), acme/tiny-open (public)")
    click.echo(f"\nTry it:\n  source {directory / 'tokens.env'}")
    click.echo(
        '  curl -s -X POST -H "Authorization: Bearer $RESEARCHER_TOKEN" '
        '-d \'{"path": "model.safetensors"}\' '
        "$DISTSERVER_URL/api/v1/models/acme/tiny-llm/links\n"
    )
    # app.run() refuses to serve inside a Flask CLI command; werkzeug's server is the same one.
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)
