"""The portal's parts of pages that other apps render: owners' reports on an IT system's page."""

from django import template

from .. import selectors
from ..forms import SystemOutageForm, SystemProblemForm

register = template.Library()


@register.inclusion_tag("portal/_system_problems.html", takes_context=True)
def system_problems(context, system):
    """Owners' reports on the system as the viewer may see them, and the form to report one for
    their apps (when they own one that depends on it). A view that refused a report passes its
    bound form as `problem_form`, so that its errors show beside their fields."""
    user = context["request"].user
    projects = selectors.reportable_projects(user, system)
    form = context.get("problem_form") or (
        SystemProblemForm(projects=projects) if projects else None
    )
    return {
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        "system": system,
        "problems": selectors.system_problems_for(user, system),
        "problem_form": form,
        "outage_form": context.get("outage_form") or SystemOutageForm(),
        "rate_limited": context.get("rate_limited"),
        "reported": context.get("reported"),
    }
