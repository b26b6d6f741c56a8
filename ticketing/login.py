"""Staff sign-in: brute-force lockout (django-axes) and a second factor (django-otp).

- `AxesBackend` counts and refuses logins; `lockout_response` is the page a locked
  out user sees (429 with Retry-After, in the admin's look).
- `AdminOTPMiddleware` asks for an authenticator code after the password from staff
  who registered an authenticator, and from every superuser when
  ADMIN_REQUIRE_OTP_FOR_SUPERUSERS is on. Until then, admin pages redirect to
  `otp_verify` (or `otp_setup` for a superuser without an authenticator), and every
  other page treats the user as signed out, so no staff-only page outside the admin
  (the door page) is reachable on the password alone.
"""

from __future__ import annotations

import base64
import logging
import math
from functools import wraps

import qrcode
import qrcode.image.svg
from axes.backends import AxesStandaloneBackend
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

logger = logging.getLogger(__name__)


class AxesBackend(AxesStandaloneBackend):
    """axes' lockout check for every login made from a request. Authentication
    without one (management commands, the test client's `login`) has no client
    address to count against, so it is left to the next backend, uncounted."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def axes_username(request, credentials=None) -> str:
    """The username a failed login is counted under, cut to what a username can be:
    axes stores it in a 255-character column, and a longer one typed into the
    login form would end in a database error instead of "wrong password"."""
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")
    source = credentials if credentials else getattr(request, "POST", {})
    username = (source or {}).get(field) or ""
    return str(username)[: get_user_model()._meta.get_field("username").max_length]


def lockout_response(request, original_response=None, credentials=None):
    cool_off = settings.AXES_COOLOFF_TIME
    minutes = math.ceil(cool_off.total_seconds() / 60)
    context = {
        **admin.site.each_context(request),
        "title": _("Too many failed sign-ins"),
        "minutes": minutes,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    response = render(request, "admin/locked_out.html", context, status=429)
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response


# -- second factor ----------------------------------------------------------------


def otp_required(user) -> bool:
    """Whether `user`, signed in with a password, still owes an authenticator code."""
    if not (user.is_authenticated and user.is_staff) or user.is_verified():
        return False
    if user.is_superuser and settings.ADMIN_REQUIRE_OTP_FOR_SUPERUSERS:
        return True
    return user_has_device(user, confirmed=True)


class AdminOTPMiddleware:
    """Goes after django_otp's OTPMiddleware (which sets `user.is_verified`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and otp_required(user):
            admin_root = reverse("admin:index")
            open_paths = {
                reverse("otp-verify"),
                reverse("otp-setup"),
                reverse("admin:logout"),
                reverse("admin:jsi18n"),
            }
            if request.path in open_paths:
                return self.get_response(request)
            if request.path.startswith(admin_root):
                target = "otp-verify" if user_has_device(user) else "otp-setup"
                query = urlencode({REDIRECT_FIELD_NAME: request.get_full_path()})
                return HttpResponseRedirect(f"{reverse(target)}?{query}")
            request.user = AnonymousUser()
        return self.get_response(request)


class TokenForm(forms.Form):
    token = forms.RegexField(
        label=_("Code from your authenticator app"),
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        error_messages={"invalid": _("Enter the 6-digit code.")},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
            }
        ),
    )

    def clean_token(self) -> str:
        return self.cleaned_data["token"].strip()


def _next_url(request) -> str:
    candidate = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(
        REDIRECT_FIELD_NAME, ""
    )
    if candidate and url_has_allowed_host_and_scheme(
        candidate,
        allowed_hosts={request.get_host()},
        require_https=request.is_secure(),
    ):
        return candidate
    return reverse("admin:index")


def _staff_only(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not (request.user.is_authenticated and request.user.is_staff):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return view(request, *args, **kwargs)

    return never_cache(csrf_protect(wrapped))


def _page(request, template: str, title, **context):
    return render(
        request,
        template,
        {
            **admin.site.each_context(request),
            "title": title,
            "next": _next_url(request),
            **context,
        },
    )


_WRONG_CODE = _(
    "That code is wrong or has expired. Wait for the next code and try again."
)


@_staff_only
def otp_verify(request):
    """The code after the password, from any confirmed authenticator of the user."""
    devices = list(devices_for_user(request.user, confirmed=True))
    if not devices:
        return HttpResponseRedirect(
            reverse("otp-setup")
            + "?"
            + urlencode({REDIRECT_FIELD_NAME: _next_url(request)})
        )
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # verify_token throttles each device after failures (django-otp).
        for device in devices:
            if device.verify_token(form.cleaned_data["token"]):
                otp_login(request, device)
                return HttpResponseRedirect(_next_url(request))
        logger.warning("Wrong authenticator code for user %s", request.user.pk)
        form.add_error("token", _WRONG_CODE)
    return _page(request, "admin/otp_verify.html", _("Authenticator code"), form=form)


@_staff_only
def otp_setup(request):
    """Register an authenticator app: scan the code, type one code to confirm.

    A user who already has one must have used it in this session first, so that a
    password alone never adds a second authenticator."""
    user = request.user
    if user_has_device(user, confirmed=True) and not user.is_verified():
        return HttpResponseRedirect(
            reverse("otp-verify") + "?" + urlencode({REDIRECT_FIELD_NAME: request.path})
        )
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=user, name=str(_("Authenticator app")), confirmed=False
        )
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            logger.info("User %s registered an authenticator", user.pk)
            messages.success(request, _("Your authenticator app is set up."))
            return HttpResponseRedirect(_next_url(request))
        form.add_error("token", _WRONG_CODE)
    qr = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    return _page(
        request,
        "admin/otp_setup.html",
        _("Set up an authenticator app"),
        form=form,
        qr_svg=qr.to_string(encoding="unicode"),
        secret=base64.b32encode(device.bin_key).decode(),
        required=user.is_superuser and settings.ADMIN_REQUIRE_OTP_FOR_SUPERUSERS,
        confirmed_count=TOTPDevice.objects.filter(user=user, confirmed=True).count(),
    )
