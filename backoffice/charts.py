"""Charts drawn on the server as SVG: readable without JavaScript, no chart library,
and nothing the CSP ('self', no inline style) refuses. Colours come from classes in
`backoffice/dashboard.css`; sizes are SVG attributes, not styles.

Hand-written because the two charts are a stacked bar and a stacked column chart:
about a hundred lines, where a vendored library would bring JavaScript, a build of
its own and inline styles the CSP forbids.
"""

from __future__ import annotations

from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from . import channels
from .selectors import EventChart, SessionFill

BAR_WIDTH, BAR_HEIGHT = 300, 16
CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM, CHART_LEFT = 620, 170, 10, 22, 34


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def fill_bar(fill: SessionFill) -> SafeString:
    """One session's seats: a segment per channel, then held seats, then free."""
    capacity = fill.session.capacity
    scale = BAR_WIDTH / max(capacity, fill.taken, 1)
    summary = ", ".join(
        f"{channels.LABELS[key]} {count}"
        for key, count in fill.by_channel.items()
        if count
    )
    label = _("%(taken)d of %(capacity)d seats taken (%(summary)s); %(held)d held") % {
        "taken": fill.taken,
        "capacity": capacity,
        "summary": summary or _("none sold"),
        "held": fill.held,
    }
    parts = [
        f'<svg class="fill-bar" viewBox="0 0 {BAR_WIDTH} {BAR_HEIGHT}" '
        f'preserveAspectRatio="none" role="img" aria-label="{escape(label)}">',
        _title(label),
        f'<rect class="free" x="0" y="0" width="{BAR_WIDTH}" height="{BAR_HEIGHT}"/>',
    ]
    x = 0.0
    segments = [(key, count) for key, count in fill.by_channel.items() if count]
    if fill.held:
        segments.append(("held", fill.held))
    for key, count in segments:
        width = count * scale
        name = channels.LABELS.get(key, _("Held"))
        parts.append(
            f'<rect class="ch-{key}" x="{x:.2f}" y="0" width="{width:.2f}" '
            f'height="{BAR_HEIGHT}">{_title(f"{name}: {count}")}</rect>'
        )
        x += width
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every text part above is escaped


def daily_chart(chart: EventChart) -> SafeString:
    """Tickets per day over the chart's days, a stacked column per day by channel."""
    days = chart.days
    peak = max((sum(day.values()) for day in chart.by_day.values()), default=0)
    peak = max(peak, 1)
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    step = (CHART_WIDTH - CHART_LEFT) / len(days)
    label = _("Tickets sold per day for %(event)s, %(total)d in all") % {
        "event": chart.title,
        "total": chart.total,
    }
    parts = [
        f'<svg class="daily-chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'role="img" aria-label="{escape(label)}">',
        _title(label),
        f'<text class="axis" x="{CHART_LEFT - 4}" y="{CHART_TOP + 8}" '
        f'text-anchor="end">{peak}</text>',
        f'<text class="axis" x="{CHART_LEFT - 4}" y="{CHART_TOP + plot_height}" '
        'text-anchor="end">0</text>',
        f'<line class="baseline" x1="{CHART_LEFT}" x2="{CHART_WIDTH}" '
        f'y1="{CHART_TOP + plot_height}" y2="{CHART_TOP + plot_height}"/>',
    ]
    for index, day in enumerate(days):
        counts = chart.by_day.get(day, {})
        x = CHART_LEFT + index * step
        y = CHART_TOP + plot_height
        day_label = date_format(day, "j M")
        for key in channels.ALL:
            count = counts.get(key, 0)
            if not count:
                continue
            height = count / peak * plot_height
            y -= height
            parts.append(
                f'<rect class="ch-{key}" x="{x + 1:.2f}" y="{y:.2f}" '
                f'width="{step - 2:.2f}" height="{height:.2f}">'
                f"{_title(f'{day_label} · {channels.LABELS[key]}: {count}')}</rect>"
            )
        anchors = {0: ("start", x), len(days) // 2: ("middle", x + step / 2)}
        anchors[len(days) - 1] = ("end", x + step)
        if index in anchors:
            anchor, at = anchors[index]
            parts.append(
                f'<text class="axis" x="{at:.2f}" y="{CHART_HEIGHT - 6}" '
                f'text-anchor="{anchor}">{escape(day_label)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every text part above is escaped
