"""`makemessages` that also extracts `_lazy(...)`.

Modules that need both gettext and gettext_lazy import the lazy one as `_lazy`
(backoffice reports, the manual booking form); xgettext knows only Django's own
names, so without this their strings never reached the .po and stayed English.
"""

from django.core.management.commands import makemessages

# Shared with ticketing/tests/test_translations.py, which extracts the same way.
EXTRA_KEYWORDS = ["--keyword=_lazy"]


class Command(makemessages.Command):
    xgettext_options = makemessages.Command.xgettext_options + EXTRA_KEYWORDS
