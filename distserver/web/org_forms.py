"""Flask-WTF forms of the lab's console pages for organisations and webhooks: each POST
carries the CSRF token. The services check every value again; these only say early
what to fix."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from distserver.access.organizations import MEMBER_ROLES


class OrgForm(FlaskForm):
    slug = StringField(
        "Slug (2-63 lowercase letters, digits or '-')", validators=[DataRequired(), Length(2, 63)]
    )
    name = StringField("Name", validators=[DataRequired(), Length(1, 200)])
    tier = SelectField("Tier its members hold", choices=[])
    submit = SubmitField("Create the organisation")


class MemberForm(FlaskForm):
    email = StringField("E-mail of the member", validators=[DataRequired(), Length(max=255)])
    role = SelectField(
        "Role in the organisation",
        choices=[SelectChoice(r, r) for r in MEMBER_ROLES],
        default="member",
    )
    submit = SubmitField("Add the member")


class MemberRoleForm(FlaskForm):
    role = HiddenField(validators=[DataRequired()])
    submit = SubmitField("Change")


class OrgAgreementForm(FlaskForm):
    signed_by = StringField(
        "Signed by (the person who signed for the organisation)",
        validators=[DataRequired(), Length(1, 200)],
    )
    expires = DateField("Expires on (optional)", validators=[Optional()])
    submit = SubmitField("Record the signature")


class ReasonForm(FlaskForm):
    """A confirmation page's form: the CSRF token and an optional reason."""

    reason = TextAreaField("Reason (optional, kept in the audit log)", validators=[Length(max=200)])
    submit = SubmitField("Confirm")


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class WebhookForm(FlaskForm):
    url = StringField("Receiver URL (http or https)", validators=[DataRequired(), Length(max=500)])
    events = CheckboxesField("Events to send", choices=[])
    submit = SubmitField("Create the webhook")
