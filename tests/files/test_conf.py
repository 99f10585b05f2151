"""The files app's settings: one default each, every one documented, the environment read by name."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from files import conf

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(conf.DEFAULTS))
def test_every_setting_is_listed_in_the_readme(name):
    assert re.search(rf"^\| `{name}` \|", README, re.MULTILINE), f"{name} is missing from README's settings table"


def test_a_setting_the_project_does_not_set_takes_the_apps_default(settings):
    del settings.FILES_MAX_FILES_PER_REQUEST  # in case a project module set it
    assert conf.max_files_per_request() == conf.DEFAULTS["FILES_MAX_FILES_PER_REQUEST"]


@override_settings(FILES_MAX_FILES_PER_REQUEST=3)
def test_a_project_setting_overrides_the_default():
    assert conf.max_files_per_request() == 3


def _settings_from_environment(**environment: str) -> dict:
    """The FILES_* values clinic/settings.py produces under ``environment``, in a fresh interpreter."""
    script = (
        "import json, clinic.settings as s;"
        "print(json.dumps({k: getattr(s, k) for k in dir(s) if k.startswith('FILES_') and k != 'FILES_ROOT'},"
        " default=str))"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FILES_")},
        "DJANGO_SECRET_KEY": "x",
        **environment,
    }
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)  # noqa: S603 (this interpreter)
    return json.loads(out.stdout)


def test_the_clinic_settings_write_no_default_of_their_own():
    values = _settings_from_environment()
    # The clinic's own choices, not copies of the app's defaults: its policy and its var/ folder.
    assert set(values) == {"FILES_BACKEND", "FILES_PERMISSION_POLICY", "FILES_UPLOAD_TEMP_DIR"}


def test_an_environment_variable_sets_its_setting_with_its_type():
    values = _settings_from_environment(FILES_URL_LIFETIME="120", FILES_SERVE_MODE="accel", FILES_PUBLIC_BASE_URL="")
    assert values["FILES_URL_LIFETIME"] == 120
    assert values["FILES_SERVE_MODE"] == "accel"
    assert "FILES_PUBLIC_BASE_URL" not in values  # empty: the app's default
