"""Extensions, created unbound here and attached to an app in create_app()."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

from distserver.db import Base

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
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
