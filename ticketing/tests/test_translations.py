"""Every string the code marks for translation has a French translation.

bookings/tests/test_i18n.py checks the entries of the .po (none empty or fuzzy,
placeholders kept, .mo in sync). That passed while 200 strings of the back office
and of discount codes were never extracted into the .po at all, so French users
saw them in English. This test extracts the strings as `makemessages` does and
compares them with the .po with GNU gettext's own `msgcmp`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.translation.template import templatize

from ticketing.management.commands.makemessages import Command as MakeMessages

ROOT = Path(settings.BASE_DIR)
PO = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
# As `makemessages` is run (see the .po's header): hidden folders are skipped by
# Django itself; benchmarks and vendored or installed code carry no strings of ours.
SKIPPED_DIRS = {
    "bench",
    "node_modules",
    "vendor",
    "media",
    "staticfiles",
    "test-artifacts",
    "sent-emails",
    "__pycache__",
}
EXTENSIONS = (".py", ".html", ".txt")
# Django's own keywords for the "django" domain (makemessages.py), then ours.
KEYWORDS = [
    "--keyword=gettext_noop",
    "--keyword=gettext_lazy",
    "--keyword=ngettext_lazy:1,2",
    "--keyword=pgettext:1c,2",
    "--keyword=npgettext:1c,2,3",
    "--keyword=pgettext_lazy:1c,2",
    "--keyword=npgettext_lazy:1c,2,3",
]


def _gettext_tools() -> None:
    missing = [tool for tool in ("xgettext", "msgcmp") if not shutil.which(tool)]
    if missing:
        # `make test` runs with -ra: the reason is printed in the summary.
        pytest.skip(f"GNU gettext is not installed ({', '.join(missing)} missing)")


def _source_files() -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS
        )
        found += [Path(dirpath, f) for f in sorted(filenames) if f.endswith(EXTENSIONS)]
    return found


def _extract(workdir: Path) -> Path:
    """The .pot `makemessages` would build: Python read as is, templates first
    turned into Python by Django's `templatize`."""
    inputs = []
    for path in _source_files():
        relative = path.relative_to(ROOT)
        if path.suffix == ".py":
            inputs.append(str(relative))
            continue
        target = workdir / "templates" / f"{relative}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            templatize(path.read_text(encoding="utf-8"), origin=str(relative)),
            encoding="utf-8",
        )
        inputs.append(str(target))
    files_from = workdir / "files.txt"
    files_from.write_text("\n".join(inputs), encoding="utf-8")
    pot = workdir / "django.pot"
    subprocess.run(
        [
            "xgettext",
            "-d",
            "django",
            "--language=Python",
            *KEYWORDS,
            f"--output={pot}",
            f"--files-from={files_from}",
            *MakeMessages.xgettext_options,
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return pot


def test_every_string_of_the_code_has_a_french_translation(tmp_path):
    _gettext_tools()
    pot = _extract(tmp_path)
    assert pot.stat().st_size > 10_000, "xgettext found (almost) no string"

    # msgcmp reports each string of the .pot that the .po lacks, or has untranslated
    # or fuzzy, by its line in the .pot.
    result = subprocess.run(
        ["msgcmp", str(PO), str(pot)], capture_output=True, text=True
    )
    assert result.returncode == 0, (
        "Strings marked for translation with no French translation. Run "
        "`manage.py makemessages -l fr --no-location --no-obsolete --ignore=bench "
        "--ignore=node_modules --ignore=static/vendor`, translate every new or "
        "fuzzy entry, then compile (see the .po's header):\n"
        + "\n".join(_reported(pot, result.stderr, tmp_path))
    )


def _reported(pot: Path, stderr: str, workdir: Path) -> list[str]:
    """msgcmp's complaints as "where: msgid: what", or as printed if unparsable."""
    lines = pot.read_text(encoding="utf-8").splitlines()
    reported = []
    for complaint in stderr.splitlines():
        head, _, what = complaint.partition(": ")
        number = head.rsplit(":", 1)[-1]
        if not (head.startswith(str(pot)) and number.isdigit()):
            reported.append(complaint)
            continue
        # msgcmp points at the msgstr; the msgid and its source are above it.
        above = lines[: int(number) - 1]
        start = max(i for i, line in enumerate(above) if line.startswith("msgid "))
        msgid = " ".join(line.removeprefix("msgid ") for line in above[start:])
        where = next(
            (line[3:] for line in reversed(above) if line.startswith("#: ")), "?"
        )
        where = re.sub(
            r"\.(html|txt)\.py:", r".\1:", where.replace(f"{workdir}/templates/", "")
        )
        reported.append(f"{where}: {msgid}: {what}")
    return reported


def test_makemessages_extracts_the_lazy_alias():
    """`_lazy` (gettext_lazy where a module also uses gettext as `_`) is no name
    xgettext knows: without the project's makemessages these strings are lost."""
    assert "--keyword=_lazy" in MakeMessages.xgettext_options
