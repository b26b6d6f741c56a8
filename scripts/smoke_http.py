"""A small browser for `scripts/smoke.py`: cookies, forms and CSRF, standard library
only (the smoke test runs before any virtualenv of ours exists). Any answer of 500 or
more fails the run at once, with the page's first lines."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser


class SmokeFailure(Exception):
    pass


@dataclass
class Form:
    attrs: dict
    fields: dict[str, str] = field(default_factory=dict)
    selects: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # input id -> label text
    ids: dict[str, str] = field(default_factory=dict)  # input id -> name

    def name_labelled(self, text: str) -> str:
        """The name of the input whose label contains `text`."""
        for input_id, label in self.labels.items():
            if text in label and input_id in self.ids:
                return self.ids[input_id]
        labels = sorted(self.labels.values())
        raise SmokeFailure(f"No field labelled {text!r} in {labels}")

    def option(self, select: str, text: str) -> str:
        for value, label in self.selects.get(select, []):
            if text in label:
                return value
        options = self.selects.get(select)
        raise SmokeFailure(f"No option {text!r} in {select}: {options}")


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._option: str | None = None
        self._label_for: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = Form(attrs)
            self.forms.append(self._form)
        if self._form is None:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                return
            self._form.fields.setdefault(name, attrs.get("value", ""))
            if "id" in attrs:
                self._form.ids[attrs["id"]] = name
        elif tag == "textarea" and name:
            self._form.fields.setdefault(name, "")
        elif tag == "select" and name:
            self._select = name
            self._form.selects[name] = []
            if "id" in attrs:
                self._form.ids[attrs["id"]] = name
        elif tag == "option" and self._select:
            self._option = attrs.get("value", "")
            self._text = []
            if "selected" in attrs or self._select not in self._form.fields:
                self._form.fields[self._select] = self._option
        elif tag == "label" and attrs.get("for"):
            self._label_for = attrs["for"]
            self._text = []

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "option" and self._select and self._form is not None:
            self._form.selects[self._select].append((self._option, "".join(self._text)))
            self._option = None
        elif tag == "label" and self._label_for and self._form is not None:
            self._form.labels[self._label_for] = " ".join("".join(self._text).split())
            self._label_for = None

    def handle_data(self, data):
        self._text.append(data)


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class Browser:
    def __init__(self, base: str, *, log=print) -> None:
        self.base = base.rstrip("/")
        self.log = log
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies)
        )
        self.url = self.base + "/"
        self.html = ""

    def _open(self, request: urllib.request.Request, expect: tuple[int, ...]) -> str:
        try:
            with self.opener.open(request, timeout=120) as response:
                status, self.url = response.status, response.url
                body = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, self.url = error.code, error.url
            body = error.read().decode("utf-8", "replace")
        self.log(f"  {request.get_method()} {request.full_url} -> {status}")
        if status >= 500 or status not in expect:
            head = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))[:600]
            raise SmokeFailure(
                f"{request.get_method()} {request.full_url} answered {status}: {head}"
            )
        self.html = body
        return body

    def get(self, path: str, *, expect=(200,), headers=None) -> str:
        url = path if path.startswith("http") else self.base + path
        return self._open(urllib.request.Request(url, headers=headers or {}), expect)

    def post(self, path: str, data: dict, *, expect=(200,), headers=None) -> str:
        url = path if path.startswith("http") else self.base + path
        if url.startswith(self.base):
            # Django checks the Referer of HTTPS posts and the Origin of all.
            headers = {"Origin": self.base, "Referer": self.url, **(headers or {})}
        body = urllib.parse.urlencode(data, doseq=True).encode()
        return self._open(urllib.request.Request(url, body, headers=headers), expect)

    def form(self, predicate=lambda form: True) -> Form:
        for candidate in forms_of(self.html):
            if predicate(candidate):
                return candidate
        raise SmokeFailure(f"No matching form on {self.url}")

    def login_admin(self, username: str, password: str) -> None:
        self.get("/admin/login/")
        fields = self.form(lambda f: "username" in f.fields).fields
        fields.update(username=username, password=password)
        self.post("/admin/login/?next=/admin/", fields)
        if "/admin/login/" in self.url:
            raise SmokeFailure(f"Admin login refused for {username}")
