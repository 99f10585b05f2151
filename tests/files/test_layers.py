"""The files app's shape: a framework-free core at the bottom, adapters above it, no import circle.

The core (models, services, selectors, content detection, signing, audit,
the permission policy, settings, storage) raises its own exceptions and
knows no DRF and no HTTP; the adapters (the API, the download path, the
admin, the commands) each map the core's exceptions to their own answers.
"""

import ast
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parents[2] / "files"

CORE = [
    "files.audit",
    "files.backends",
    "files.caching",
    "files.conf",
    "files.content.detection",
    "files.content.kinds",
    "files.content.metadata",
    "files.content.office",
    "files.content.pdf",
    "files.content.png",
    "files.direct",
    "files.exceptions",
    "files.export",
    "files.limits",
    "files.models",
    "files.policy",
    "files.reconcile",
    "files.routes",
    "files.selectors",
    "files.services",
    "files.services.holds",
    "files.services.intake",
    "files.services.owners",
    "files.services.scans",
    "files.services.storage",
    "files.services.trash",
    "files.signing",
    "files.storages",
]
ADAPTERS = ["files.api", "files.download", "files.admin", "files.management"]
WEB_FRAMEWORKS = ["rest_framework", "drf_spectacular", "django.http", "django.contrib.admin"]
DOMAIN_APPS = ["patients", "doctors", "appointments", "accounts", "clinic", "demo"]


def _module_names() -> dict[str, Path]:
    modules = {}
    for path in FILES.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(FILES.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _module_names()


def imports_of(module: str) -> set[str]:
    """Every module ``module`` imports, at the top or inside a function; ``from a import b`` counts ``a.b`` too."""
    names = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _under(name: str, packages: list[str]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def test_every_core_module_exists():
    assert set(CORE) <= set(MODULES)


@pytest.mark.parametrize("module", CORE)
def test_the_core_knows_no_web_framework_and_no_adapter(module):
    assert {name for name in imports_of(module) if _under(name, WEB_FRAMEWORKS + ADAPTERS)} == set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_files_app_imports_no_domain_app(module):
    assert {name for name in imports_of(module) if _under(name, DOMAIN_APPS)} == set()


@pytest.mark.parametrize(("adapter", "other"), [("files.api", "files.download"), ("files.download", "files.api")])
def test_the_api_and_the_download_path_stand_side_by_side(adapter, other):
    for module in (name for name in MODULES if _under(name, [adapter])):
        assert {name for name in imports_of(module) if _under(name, [other])} == set(), module


def test_no_import_circle_within_the_files_app():
    graph = {module: {name for name in imports_of(module) if name in MODULES and name != module} for module in MODULES}
    visiting, done = set(), set()

    def visit(module: str, path: list[str]) -> None:
        if module in done:
            return
        assert module not in visiting, " -> ".join([*path, module])
        visiting.add(module)
        for imported in graph[module]:
            visit(imported, [*path, module])
        visiting.discard(module)
        done.add(module)

    for module in graph:
        visit(module, [])
