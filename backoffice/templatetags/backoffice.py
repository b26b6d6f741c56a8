from django import template

from .. import channels
from ..charts import daily_chart, fill_bar
from ..scope import scope_for
from ..selectors import dashboard_get

register = template.Library()


@register.inclusion_tag("backoffice/dashboard.html", takes_context=True)
def dashboard(context):
    """The dashboard on the admin home, for the request's organisers."""
    request = context["request"]
    scope = scope_for(request)
    data = dashboard_get(scope)
    return {
        "request": request,
        "scope": scope,
        "data": data,
        "fills": [(fill, fill_bar(fill)) for fill in data.sessions],
        "charts": [(chart, daily_chart(chart)) for chart in data.charts],
        "legend": [(key, channels.LABELS[key]) for key in channels.ALL],
        "headings": [channels.SHORT_LABELS[key] for key in channels.ALL],
        "has_alerts": any(data.alerts.values()),
    }


@register.filter
def cell(row: dict, key: str):
    return row.get(key)
