"""Extensions, created unbound here and attached to an app in create_app(); Flask-Migrate
only by init_migrations(), for what migrates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

from distserver.db import Base
from distserver.paths import MIGRATIONS_DIR

if TYPE_CHECKING:

    class ContextSession(Session):
        """What `db.session` is to a type checker: Flask-SQLAlchemy's scoped_session hands
        every Session method to the session of the current app context, and adds remove()."""

        def remove(self) -> None: ...


class Database(SQLAlchemy):
    """Flask-SQLAlchemy, with `session` typed as the Session the services take."""

    if TYPE_CHECKING:
        session: ContextSession  # type: ignore[assignment]  # a scoped_session proxies Session


db = Database(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def init_migrations(app: Flask) -> None:
    """Attach Flask-Migrate to `app`, with the migrations shipped in the package. Only
    what migrates calls it (`distserver db ...`, the demo, the tests' and benchmarks'
    databases): importing Alembic is a tenth of a second that every other command,
    gunicorn worker and job process would pay at start-up for nothing."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(app, db, directory=str(MIGRATIONS_DIR))


def upgrade_database(app: Flask, revision: str = "head") -> None:
    """Migrate `app`'s database to `revision`, as `distserver db upgrade` does."""
    from flask_migrate import upgrade

    init_migrations(app)
    with app.app_context():
        upgrade(revision=revision)
