"""Create the project's benchmark data through the project's own code, print it as JSON.

Run from the repo root with the project's environment (DATABASE_URL,
FILES_ROOT, ...) and DJANGO_SETTINGS_MODULE=clinic.settings, after
``migrate``, while the project answers at --base-url::

    python bench/prepare_project.py --base-url http://127.0.0.1:PORT 10k=/tmp/x/bench-10k.pdf 64m=...

It creates a user in the 'admin' group with a DRF token, a patient, and
attaches each data file with ``files.services.file_attach`` (the code every
upload goes through: content check, hashing, storage). The signed ``url`` of
each file comes from the running project (GET /api/patients/<id>/), exactly
as a client gets it. Prints::

    {"token": ..., "patient_id": ..., "files": {"10k": {"path": "/static/<entity_id>/<file_id>.pdf",
     "url": <the url field>, "signed_url": <path?query, or null while the url is unsigned>, ...}}}
"""

import argparse
import json
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project's packages
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402  (after django.setup)
from django.contrib.auth.models import Group  # noqa: E402
from django.core.files import File as DjangoFile  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from files.services import file_attach  # noqa: E402
from patients.models import Patient  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="the running project, for the files' signed URLs")
    parser.add_argument("files", nargs="+", metavar="LABEL=PATH")
    args = parser.parse_args()

    # get_or_create: a second run against the same database reuses what is there.
    user, _ = get_user_model().objects.get_or_create(username="bench-admin")
    user.groups.add(Group.objects.get(name="admin"))
    token, _ = Token.objects.get_or_create(user=user)
    patient, _ = Patient.objects.get_or_create(
        reg_number="BENCH-001", defaults={"first_name": "Bench", "last_name": "Mark"}
    )

    files = {}
    for item in args.files:
        label, _, path = item.partition("=")
        with open(path, "rb") as handle:
            upload = DjangoFile(handle, name=f"bench-{label}.pdf")
            file = file_attach(owner=patient, upload=upload, category="document", uploaded_by=user)
        files[label] = {"id": str(file.pk), "path": f"/static/{file.path}", "size": file.size, "sha256": file.sha256}

    result = {"token": token.key, "patient_id": str(patient.pk), "files": files}
    if args.base_url:
        result["patient_detail"] = _signed_urls(args.base_url, token.key, patient.pk, files)
    print(json.dumps(result))


def _signed_urls(base_url: str, token: str, patient_id, files: dict) -> str:
    """Fill in each file's ``url`` and ``signed_url`` from the patient's JSON; return what happened."""
    url = f"{base_url}/api/patients/{patient_id}/"  # http://127.0.0.1:PORT, from bench/suite/project.py
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback URL we built)
            detail = json.load(response)
    except Exception as error:  # the report says why; the benchmark goes on with the token rows
        for entry in files.values():
            entry["url"] = entry["signed_url"] = None
        return f"GET /api/patients/{patient_id}/ failed: {error!r}"
    urls = {str(item["id"]): item.get("url") for item in detail.get("files", [])}
    for entry in files.values():
        url = urls.get(entry["id"])
        entry["url"] = url
        parts = urlsplit(url or "")
        # Signed once the url carries ?expires=...&issued_to=...&signature=... (issued_to: the user the URL
        # was made for, here the bench user); before that there is nothing to load.
        entry["signed_url"] = f"{parts.path}?{parts.query}" if "signature=" in parts.query else None
    return "ok"


if __name__ == "__main__":
    main()
