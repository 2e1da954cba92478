"""`{% nav_url %}`: the header's links reversed once a process, and still what `{% url %}` gives
under any script prefix (Steward served below a path) and URLconf."""

import pytest
from django.template import Context, Template
from django.urls import clear_script_prefix, reverse, set_script_prefix, set_urlconf

NAMES = ["registry:directory", "registry:system_list", "notifications:mine", "login", "logout"]


def _render(name: str) -> str:
    return Template(f"{{% nav_url '{name}' %}}").render(Context())


@pytest.mark.parametrize("name", NAMES)
def test_nav_url_is_what_url_gives(name):
    assert _render(name) == Template(f"{{% url '{name}' %}}").render(Context()) == reverse(name)


def test_nav_url_follows_the_script_prefix_and_the_urlconf():
    try:
        assert _render("registry:directory") == "/"
        set_script_prefix("/steward/")
        assert _render("registry:directory") == "/steward/"
        assert _render("notifications:mine") == reverse("notifications:mine")
        assert _render("notifications:mine").startswith("/steward/")
        clear_script_prefix()
        assert _render("registry:directory") == "/"
        # Another URLconf has its own answers (the load benchmark's adds a bare view).
        set_urlconf("bench.urls")
        assert _render("registry:directory") == reverse("registry:directory", urlconf="bench.urls")
    finally:
        clear_script_prefix()
        set_urlconf(None)


def test_an_unknown_name_fails_as_url_does():
    from django.urls import NoReverseMatch

    with pytest.raises(NoReverseMatch):
        _render("registry:no_such_page")
