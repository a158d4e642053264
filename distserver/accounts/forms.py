"""Flask-WTF forms: each carries the CSRF token, so every cookie-authenticated
write is checked (CSRFProtect refuses a POST without it before the view runs)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange

from distserver.accounts.auth import MAX_PASSWORD, MIN_PASSWORD
from distserver.accounts.models import STAFF_ROLES

_password = [DataRequired(), Length(MIN_PASSWORD, MAX_PASSWORD)]


class RegisterForm(FlaskForm):
    email = StringField("E-mail", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=_password)
    confirm = PasswordField(
        "Repeat password", validators=[EqualTo("password", "The passwords differ.")]
    )
    submit = SubmitField("Create account")


class SignInForm(FlaskForm):
    email = StringField("E-mail", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_PASSWORD)])
    remember = BooleanField("Keep me signed in on this device")
    next = HiddenField()
    submit = SubmitField("Sign in")


class CodeForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app (or a recovery code)",
        validators=[DataRequired(), Length(max=40)],
    )
    submit = SubmitField("Continue")


class EnrolCodeForm(FlaskForm):
    """Confirming an enrolment: only the app's code works (recovery codes come after)."""

    code = StringField(
        "6-digit code from your authenticator app",
        validators=[DataRequired(), Length(max=40)],
    )
    submit = SubmitField("Continue")


class ForgotForm(FlaskForm):
    email = StringField("E-mail", validators=[DataRequired(), Length(max=255)])
    submit = SubmitField("Send a reset link")


class ResetForm(FlaskForm):
    password = PasswordField("New password", validators=_password)
    confirm = PasswordField(
        "Repeat new password", validators=[EqualTo("password", "The passwords differ.")]
    )
    submit = SubmitField("Set password")


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    password = PasswordField("New password", validators=_password)
    confirm = PasswordField(
        "Repeat new password", validators=[EqualTo("password", "The passwords differ.")]
    )
    submit = SubmitField("Change password")


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(1, 100)])
    scope = SelectField(
        "Scope",
        choices=[
            SelectChoice("read", "read: download"),
            SelectChoice("manage", "manage: download and staff actions"),
        ],
        default="read",
    )
    expires_days = IntegerField(
        "Expires after (days)", default=90, validators=[NumberRange(1, 366)]
    )
    submit = SubmitField("Create token")


class ConfirmForm(FlaskForm):
    """A bare POST button (sign out, revoke, begin enrolment): just the CSRF token."""

    submit = SubmitField("Confirm")


class SuspendForm(FlaskForm):
    """The suspension's confirmation page (lifting one posts it with no reason)."""

    reason = TextAreaField("Reason (optional, kept in the audit log)", validators=[Length(max=200)])
    submit = SubmitField("Suspend")


class LinkForm(FlaskForm):
    password = PasswordField("Password of your existing account", validators=[DataRequired()])
    submit = SubmitField("Link and sign in")


class RoleForm(FlaskForm):
    """No default for either picker: an untouched form changes nothing."""

    role = SelectField(
        "Role",
        choices=[SelectChoice("", "choose a role"), *(SelectChoice(r, r) for r in STAFF_ROLES)],
        validators=[DataRequired("Choose an action and a role.")],
    )
    action = SelectField(
        "Action",
        choices=[
            SelectChoice("", "choose an action"),
            SelectChoice("add", "add"),
            SelectChoice("remove", "remove"),
        ],
        validators=[DataRequired("Choose an action and a role.")],
    )
    submit = SubmitField("Apply")
