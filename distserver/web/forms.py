"""Flask-WTF forms of the web pages: each POST carries the CSRF token. The
application form is built from the tier's (and the model's) declared fields."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    Field,
    HiddenField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, Regexp

from distserver.access.tiers import Agreement, FormField

ANSWER = "answer_"


class DownloadForm(FlaskForm):
    path = HiddenField(validators=[DataRequired(), Length(max=1024)])
    revision = HiddenField(validators=[Length(max=40)])
    submit = SubmitField("Download")


class AgreementForm(FlaskForm):
    accept = BooleanField("I have read and accept this agreement", validators=[DataRequired()])
    shown = HiddenField()  # the sha256s of the versions shown, comma-separated
    submit = SubmitField("Accept the agreement")


class RenewForm(FlaskForm):
    accept = BooleanField(
        "I accept the current version of the tier's agreement", validators=[DataRequired()]
    )
    submit = SubmitField("Ask to renew")


class DecisionForm(FlaskForm):
    reason = TextAreaField(
        "Reason (required to reject; the applicant sees it)", validators=[Length(max=2000)]
    )
    approve = SubmitField("Approve")
    reject = SubmitField("Reject")


class ApplicationBase(FlaskForm):
    agreement_sha256 = HiddenField()
    model_agreement_sha256 = HiddenField()
    submit = SubmitField("Submit the application")

    def answers(self, fields: tuple[FormField, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields:
            value = getattr(self, ANSWER + f.name).data
            if f.type == "date":
                value = value.isoformat() if value else None
            elif f.type == "checkbox":
                value = bool(value)
            out[f.name] = value
        return out


def _field(f: FormField) -> Field:
    required = [DataRequired()] if f.required else [Optional()]
    if f.type == "textarea":
        return TextAreaField(f.label, validators=[*required, Length(max=5000)])
    if f.type == "checkbox":
        return BooleanField(f.label, validators=required)
    if f.type == "select":
        choices = [("", "Choose…")] + [(c, c) for c in f.choices]
        return SelectField(f.label, choices=choices, validators=required)
    if f.type == "country":
        return StringField(
            f.label + " (two-letter code, e.g. FR)",
            validators=[*required, Regexp(r"^[A-Za-z]{2}$", message="Two letters, e.g. FR.")],
        )
    if f.type == "date":
        return DateField(f.label, validators=required)
    return StringField(f.label, validators=[*required, Length(max=200)])


def application_form(
    fields: tuple[FormField, ...], agreements: tuple[Agreement, ...], **kw: Any
) -> ApplicationBase:
    """A form class for these fields, instantiated (from the request's data on POST)."""
    attrs: dict[str, Any] = {ANSWER + f.name: _field(f) for f in fields}
    if agreements:
        names = " and ".join(f"{a.name} (version {a.version})" for a in agreements)
        attrs["accept"] = BooleanField(
            f"I have read and accept the {names} agreement", validators=[DataRequired()]
        )
    form_class = type("ApplicationForm", (ApplicationBase,), attrs)
    return form_class(**kw)
