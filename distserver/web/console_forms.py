"""Flask-WTF forms of the lab's console pages (models and grants): each POST carries
the CSRF token; danger actions carry a box to tick, checked by the server too."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from distserver.access.grant_admin import MAX_DAYS

CONFIRM = "Tick the box to confirm this dangerous action."


class NewModelForm(FlaskForm):
    ref = StringField(
        "Model id (namespace/name, e.g. acme/llm-7b)", validators=[DataRequired(), Length(3, 161)]
    )
    title = StringField("Title", validators=[Length(max=200)])
    plan = SelectField("Release plan", choices=[], validators=[DataRequired()])
    licence = StringField(
        "Licence (an identifier such as apache-2.0, mit or other)",
        validators=[DataRequired(), Length(max=64)],
    )
    card = TextAreaField(
        "Model card (Markdown; an optional YAML front matter block between '---' lines)",
        validators=[Length(max=100_000)],
    )


class CardForm(FlaskForm):
    title = StringField("Title", validators=[Length(max=200)])
    card = TextAreaField(
        "Model card (Markdown; YAML front matter between '---' lines, e.g. license: mit)",
        validators=[Length(max=100_000)],
    )


class GrantForm(FlaskForm):
    email = StringField("E-mail address of the person", validators=[DataRequired(), Length(3, 320)])
    tier = SelectField("Tier", choices=[], validators=[DataRequired()])
    days = IntegerField(
        "Days (empty: the tier's default)",
        validators=[Optional(), NumberRange(1, MAX_DAYS, f"Between 1 and {MAX_DAYS} days.")],
    )


class ExtendForm(FlaskForm):
    days = IntegerField(
        "Extend by (days)",
        validators=[DataRequired("Say by how many days."), NumberRange(1, MAX_DAYS)],
    )


class RevokeForm(FlaskForm):
    confirm = BooleanField(
        "I understand that this person loses this access at once",
        validators=[DataRequired(CONFIRM)],
    )
