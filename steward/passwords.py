"""Changing and resetting a password: Django's views, in the site's pages, and the reset email
sent the way every Steward email is (`steward.headers`: its connection, its subject encoding).

A reset request answers the same whether or not the address is known (Django's form sends only
to active users with a usable password), so the page tells nobody who has an account.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.template import loader
from django.urls import path

from .headers import Email, mail_connection


class MailedPasswordResetForm(PasswordResetForm):
    """The link is built on SITE_URL, never on the request's Host header (which a caller picks)."""

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        context = {**context, "site_url": settings.SITE_URL}
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        Email(subject, body, from_email, [to_email], connection=mail_connection()).send()


urlpatterns = [
    path(
        "accounts/password_reset/",
        auth_views.PasswordResetView.as_view(form_class=MailedPasswordResetForm),
        name="password_reset",
    ),
]
