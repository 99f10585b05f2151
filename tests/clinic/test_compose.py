"""The `docker compose up` stack, checked statically: docker-compose.yml, the Dockerfile and the nginx configs.

Docker need not be installed. The compose file is read with PyYAML and its
`${VAR:-default}` interpolation resolved here; what the app reads is found in
its source (clinic/settings.py, gunicorn.conf.py); the nginx configs are parsed
into blocks, and checked with `nginx -t` where an nginx binary exists.
"""

import ast
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.nginx import nginx_binary, write_main_conf

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
APP_ENV_SOURCES = [ROOT / "clinic" / "settings.py", ROOT / "gunicorn.conf.py"]
NGINX_CONFS = [ROOT / "deploy" / "nginx.conf", ROOT / "deploy" / "nginx.s3.conf"]

# The headers of a download that the app decides and nginx must not lose on an X-Accel-Redirect.
APP_DOWNLOAD_HEADERS = ["ETag", "Last-Modified", "X-Content-Type-Options", "Content-Security-Policy", "Referrer-Policy"]


# --- docker-compose.yml and its interpolation ---------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose's interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?msg}`.

    A required variable (`?`) that ``env`` lacks becomes the placeholder ``<VAR>``, so that two places
    requiring the same variable resolve to the same value.
    """
    env = env or {}

    def substitute(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"]
        value = env.get(name)
        if op is None:
            return value or ""
        unset = value is None or (op.startswith(":") and value == "")
        if not unset:
            return value
        return arg if op.endswith("-") else f"<{name}>"

    return _INTERPOLATION.sub(substitute, text)


def test_interpolation_follows_compose():
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d} ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", env) == "x d d  d"
    assert interpolate("${NEEDED:?set it} ${SET:?set it} $SET $$SET ${UNSET}", env) == "<NEEDED> x x $SET "


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    """A service's environment, interpolated (no variable set on the host); the list form too."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {name: interpolate(str(value if value is not None else "")) for name, value in raw.items()}


def raw_environment(service: dict) -> dict[str, str]:
    return {name: str(value) for name, value in (service.get("environment") or {}).items()}


def command_text(service: dict) -> str:
    command = service.get("command") or []
    return interpolate(command if isinstance(command, str) else " ".join(map(str, command)))


def depends_on(service: dict) -> dict[str, str]:
    """``{dependency: condition}``; the short list form means ``service_started``."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def mounts(service: dict) -> list[tuple[str, str, str]]:
    """``(source, target, mode)`` of each volume of a service (short syntax)."""
    result = []
    for volume in service.get("volumes") or []:
        source, target, *mode = interpolate(volume).split(":")
        result.append((source, target, mode[0] if mode else "rw"))
    return result


def published_ports(service: dict) -> list[tuple[str, int]]:
    """``(host part, container port)`` of each published port (short syntax)."""
    result = []
    for port in service.get("ports") or []:
        host, _, container = interpolate(str(port)).rpartition(":")
        result.append((host, int(container.split("/")[0])))
    return result


# --- what the app reads ------------------------------------------------------------------------------------------


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and ast.unparse(node.value) == "os"


def _environ_key(node: ast.AST) -> ast.AST | None:
    """The key expression of `os.environ.get(key, ...)`, `os.environ[key]` or `key in os.environ`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_environ(node.func.value):
        return node.args[0] if node.func.attr == "get" and node.args else None
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        return node.slice
    if isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
        return node.left
    return None


def variables_read(path: Path) -> set[str]:
    """The environment variables a module reads: by name, or through a helper such as `env_bool(name)`."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    helpers: set[str] = set()
    for function in (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)):
        parameters = {argument.arg for argument in function.args.args}
        keys = [_environ_key(node) for node in ast.walk(function)]
        if any(isinstance(key, ast.Name) and key.id in parameters for key in keys):
            helpers.add(function.name)
    for node in ast.walk(tree):
        key = _environ_key(node)
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return names


@pytest.fixture(scope="module")
def app_reads() -> set[str]:
    from clinic.settings import _FILES_ENVIRONMENT  # the files app's variables, read by name from this table

    return set().union(*(variables_read(path) for path in APP_ENV_SOURCES), _FILES_ENVIRONMENT)


def default_of(path: Path, variable: str) -> str:
    """The literal default of `os.environ.get(variable, "default")` in a module."""
    for node in ast.walk(ast.parse(path.read_text())):
        key = _environ_key(node)
        if isinstance(key, ast.Constant) and key.value == variable and isinstance(node, ast.Call):
            return ast.literal_eval(node.args[1])
    raise AssertionError(f"{path.name} does not read {variable} with a default")


def test_the_scan_finds_what_settings_read_directly_and_through_helpers(app_reads):
    # os.environ.get(...), "..." in os.environ, env_bool(...), env_list(...), and gunicorn.conf.py's.
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS", "GUNICORN_BIND"} <= app_reads
    assert "DJANGO_SETTINGS_MODULE" not in app_reads


# --- the services ------------------------------------------------------------------------------------------------


def test_compose_starts_database_store_bucket_init_cache_app_nginx_and_the_jobs(services):
    assert set(services) == {"db", "minio", "minio-init", "redis", "app", "nginx", "worker", "beat", "clamav"}
    assert services["redis"]["image"].startswith("redis:")
    assert services["db"]["image"].startswith("postgres:16")
    assert services["minio"]["image"].split(":")[0].endswith("minio/minio")
    assert services["minio-init"]["image"].split(":")[0].endswith("minio/mc")
    assert services["nginx"]["image"].startswith("nginx:")
    assert services["app"]["build"] in (".", {"context": "."})


def test_only_nginx_is_published_to_the_network(services):
    for name, service in services.items():
        for host, _ in published_ports(service):
            if name != "nginx":
                assert host.startswith("127.0.0.1:"), f"{name} is published beyond the host's loopback"


def test_app_reads_every_variable_compose_sets(services, app_reads):
    assert set(environment(services["app"])) - app_reads == set()


def test_dockerfile_sets_only_variables_the_app_reads(app_reads):
    names = set()
    for instruction in re.findall(r"^ENV\s+(.+)$", _joined_dockerfile(), re.MULTILINE):
        names |= set(re.findall(r"([A-Z_][A-Z0-9_]*)=", instruction))
    python_own = {name for name in names if name.startswith(("PYTHON", "PIP_"))}
    assert names - python_own, "the Dockerfile sets no default for the app"
    assert names - python_own - app_reads == set()


def test_compose_sets_what_the_stack_depends_on(services):
    env = environment(services["app"])
    assert {"DATABASE_URL", "DJANGO_SECRET_KEY", "FILES_BACKEND", "AWS_S3_ENDPOINT_URL", "FILES_SERVE_MODE"} <= set(env)
    assert env["FILES_BACKEND"] == "s3"
    assert env["FILES_SERVE_MODE"] == "accel"
    assert env["AWS_S3_ADDRESSING_STYLE"] == "path"  # the accel target is /<bucket>/<key>


def test_secrets_are_required_never_defaulted(services):
    raw = raw_environment(services["app"])
    assert re.fullmatch(r"\$\{DJANGO_SECRET_KEY:\?[^}]+\}", raw["DJANGO_SECRET_KEY"])
    assert re.fullmatch(r"\$\{MINIO_ROOT_PASSWORD:\?[^}]+\}", raw_environment(services["minio"])["MINIO_ROOT_PASSWORD"])


def test_app_uses_the_minio_root_credentials(services):
    app, minio = environment(services["app"]), environment(services["minio"])
    assert app["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"] == "clinic"
    assert app["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"] == "<MINIO_ROOT_PASSWORD>"
    # Set on the host, the same values reach both.
    host = {"MINIO_ROOT_USER": "ops", "MINIO_ROOT_PASSWORD": "s3cret-pass"}
    app_raw, minio_raw = raw_environment(services["app"]), raw_environment(services["minio"])
    assert interpolate(app_raw["AWS_ACCESS_KEY_ID"], host) == interpolate(minio_raw["MINIO_ROOT_USER"], host) == "ops"
    assert interpolate(app_raw["AWS_SECRET_ACCESS_KEY"], host) == interpolate(minio_raw["MINIO_ROOT_PASSWORD"], host)


def test_s3_endpoint_is_the_minio_service_api_port(services):
    endpoint = urlsplit(environment(services["app"])["AWS_S3_ENDPOINT_URL"])
    assert (endpoint.scheme, endpoint.hostname, endpoint.port) == ("http", "minio", 9000)
    command = command_text(services["minio"])
    assert command.startswith("server /data")
    # MinIO's API listens on :9000 unless --address says otherwise; the console has its own port.
    address = re.search(r"--address[ =](\S+)", command)
    assert address is None or address[1].endswith(":9000")
    assert re.search(r"--console-address[ =]:9001\b", command)


def test_the_app_shares_its_throttle_counts_in_the_redis_service(services):
    url = urlsplit(environment(services["app"])["REDIS_URL"])
    assert (url.scheme, url.hostname, url.port or 6379) == ("redis", "redis", 6379)
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]
    assert not services["redis"].get("ports")  # reached by the app only


def test_new_files_are_scanned_by_the_clamav_service_on_its_tcp_port(services):
    clamd = urlsplit(environment(services["app"])["FILES_CLAMD"])
    assert (clamd.scheme, clamd.hostname, clamd.port) == ("tcp", "clamav", 3310)
    assert services["clamav"]["image"].split(":")[0] == "clamav/clamav"
    assert "clamdcheck.sh" in services["clamav"]["healthcheck"]["test"]
    assert not services["clamav"].get("ports")  # reached by the app and the worker only


def test_database_url_points_at_the_db_service_with_its_credentials(services):
    url = urlsplit(environment(services["app"])["DATABASE_URL"])
    db = environment(services["db"])
    assert url.scheme in {"postgres", "postgresql"}
    assert (url.hostname, url.port or 5432) == ("db", 5432)
    assert (url.username, url.password, url.path.lstrip("/")) == (
        db["POSTGRES_USER"],
        db["POSTGRES_PASSWORD"],
        db["POSTGRES_DB"],
    )
    # The same holds when the host overrides them.
    host = {"POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p", "POSTGRES_DB": "d"}
    url = urlsplit(interpolate(raw_environment(services["app"])["DATABASE_URL"], host))
    db_raw = raw_environment(services["db"])
    assert (url.username, url.password, url.path.lstrip("/")) == tuple(
        interpolate(db_raw[name], host) for name in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
    )


def _shell_expand(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m[1], ""), text)


def test_minio_init_creates_the_app_bucket_and_keeps_it_private(services):
    init = services["minio-init"]
    env = environment(init)
    script = command_text(init)
    alias = re.search(r"mc alias set (\S+) (\S+) (\S+) (\S+)", script)
    assert alias, "minio-init names the MinIO server"
    name, url = alias[1], alias[2]
    assert url == environment(services["app"])["AWS_S3_ENDPOINT_URL"]
    credentials = [_shell_expand(part.strip('"'), env) for part in (alias[3], alias[4])]
    minio = environment(services["minio"])
    assert credentials == [minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]]

    created = re.search(rf"mc mb (?:--ignore-existing |-p )*\"?{re.escape(name)}/([^\s\"]+)", script)
    private = re.search(rf"mc anonymous set none \"?{re.escape(name)}/([^\s\"]+)", script)
    assert created and private
    bucket = environment(services["app"])["AWS_STORAGE_BUCKET_NAME"]
    assert _shell_expand(created[1], env) == _shell_expand(private[1], env) == bucket == "clinic-files"
    assert "set -e" in script  # a failed step fails the service, and the app does not start


def test_start_order_waits_for_health_and_for_the_bucket(services):
    assert depends_on(services["minio-init"]) == {"minio": "service_healthy"}
    assert depends_on(services["app"]) == {
        "db": "service_healthy",
        "redis": "service_healthy",
        "minio-init": "service_completed_successfully",
    }
    assert depends_on(services["nginx"]) == {"app": "service_healthy"}
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["minio"]["healthcheck"]["test"][1:] == ["mc", "ready", "local"]
    # The app's health check is the image's: /readyz through deploy/healthcheck.py.
    assert "healthcheck" not in services["app"]
    assert re.search(r'^HEALTHCHECK .*CMD \["python", "deploy/healthcheck.py"\]', _joined_dockerfile(), re.MULTILINE)
    assert (ROOT / "deploy" / "healthcheck.py").is_file()
    assert services["minio-init"].get("restart", "no") == "no"


def test_app_migrates_and_collects_static_then_runs_gunicorn(services):
    command = command_text(services["app"])
    steps = [
        "python manage.py migrate --noinput",
        "python manage.py collectstatic --noinput",
        "gunicorn -c gunicorn.conf.py clinic.wsgi",
    ]
    positions = [command.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), command
    assert command.count("&&") >= 2  # a failed migration stops the start


# --- nginx configs -----------------------------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    children: list["Directive"] = field(default_factory=list)

    def all(self, name: str) -> list["Directive"]:
        return [child for child in self.children if child.name == name]

    def one(self, name: str) -> "Directive":
        found = self.all(name)
        assert len(found) == 1, f"{len(found)} {name} directives in {self.name} {' '.join(self.args)}"
        return found[0]

    def values(self, name: str) -> list[str]:
        return [" ".join(child.args) for child in self.all(name)]


_TOKEN = re.compile(r"""\s+|#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"'#]+)""", re.DOTALL)


def parse_nginx(text: str) -> Directive:
    """nginx's configuration syntax as a tree of directives; unbalanced braces or a missing `;` fail."""
    root = Directive("main", [])
    stack, words = [root], []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match, f"cannot read the config at {text[position : position + 40]!r}"
        position = match.end()
        double, single, punctuation, word = match.groups()
        if punctuation is None and word is None and double is None and single is None:
            continue  # blank or comment
        if punctuation is None:
            words.append(word if word is not None else (double if double is not None else single))
        elif punctuation == ";":
            assert words, "an empty directive"
            stack[-1].children.append(Directive(words[0], words[1:]))
            words = []
        elif punctuation == "{":
            assert words, "a block without a name"
            block = Directive(words[0], words[1:])
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        else:
            assert not words, f"{' '.join(words)} is missing its ;"
            assert len(stack) > 1, "a } closes nothing"
            stack.pop()
    assert not words, f"{' '.join(words)} is missing its ;"
    assert len(stack) == 1, f"{len(stack) - 1} block(s) left open"
    return root


def test_the_nginx_parser_reads_quotes_and_comments_and_refuses_unbalanced_braces():
    conf = parse_nginx("""server { # a { comment
        return 404 '{"detail": "x"}'; add_header A "b; c" always; }""")
    server = conf.one("server")
    assert server.one("return").args == ["404", '{"detail": "x"}']
    assert server.one("add_header").args == ["A", "b; c", "always"]
    for broken in ["server { listen 80;", "server { listen 80; } }", "server { listen 80 }"]:
        with pytest.raises(AssertionError):
            parse_nginx(broken)


def nginx_conf_mounted_by(nginx: dict) -> Path:
    for source, target, mode in mounts(nginx):
        if target.startswith("/etc/nginx/conf.d/") and target.endswith(".conf"):
            assert mode == "ro"
            return ROOT / source.removeprefix("./")
    raise AssertionError("nginx mounts no site config into /etc/nginx/conf.d/")


@pytest.fixture(scope="module")
def mounted_conf_path(services) -> Path:
    return nginx_conf_mounted_by(services["nginx"])


@pytest.fixture(scope="module")
def mounted_conf(mounted_conf_path) -> Directive:
    return parse_nginx(mounted_conf_path.read_text())


def server_of(conf: Directive) -> Directive:
    return conf.one("server")


def location(conf: Directive, path: str) -> Directive:
    found = [loc for loc in server_of(conf).all("location") if loc.args == [path]]
    assert len(found) == 1, f"no location {path}"
    return found[0]


def upstream_servers(conf: Directive, proxy_pass: str) -> list[str]:
    """The host:port a `proxy_pass` reaches, through an upstream block or directly."""
    target = urlsplit(proxy_pass).netloc
    upstreams = {" ".join(block.args): block for block in conf.all("upstream")}
    if target in upstreams:
        return [server.args[0] for server in upstreams[target].all("server")]
    return [target]


def test_nginx_mounts_the_s3_config_as_its_default_site(mounted_conf_path):
    assert mounted_conf_path == ROOT / "deploy" / "nginx.s3.conf"
    assert mounted_conf_path.is_file()


def test_nginx_publishes_port_80_and_proxies_to_the_gunicorn_bind(services, mounted_conf):
    assert published_ports(services["nginx"]) == [("8080", 80)]
    assert interpolate(services["nginx"]["ports"][0], {"HTTP_PORT": "80"}) == "80:80"
    assert server_of(mounted_conf).values("listen") == ["80"]
    bind = default_of(ROOT / "gunicorn.conf.py", "GUNICORN_BIND")
    assert bind == "0.0.0.0:8000"
    assert "GUNICORN_BIND" not in environment(services["app"])
    app = location(mounted_conf, "/")
    assert upstream_servers(mounted_conf, app.one("proxy_pass").args[0]) == [f"app:{bind.rpartition(':')[2]}"]
    # The image exposes the same port.
    assert re.search(rf"^EXPOSE {bind.rpartition(':')[2]}$", _joined_dockerfile(), re.MULTILINE)


def test_admin_assets_are_shared_with_nginx_read_only(compose, services, mounted_conf):
    static_root = environment(services["app"])["DJANGO_STATIC_ROOT"]
    app_volume = [source for source, target, _ in mounts(services["app"]) if target == static_root]
    nginx_volume = [(source, target, mode) for source, target, mode in mounts(services["nginx"]) if mode == "ro"]
    assert app_volume, "the app's collectstatic writes to a volume"
    shared = [(target, mode) for source, target, mode in nginx_volume if source == app_volume[0]]
    assert shared and shared[0][1] == "ro"
    assets = location(mounted_conf, "/assets/")
    assert assets.one("alias").args == [shared[0][0].rstrip("/") + "/"]
    assert app_volume[0] in compose["volumes"]  # a named volume, not a folder of the host
    # The image makes the folder the app's user's, so that the new volume is too.
    assert re.search(rf"chown [^\n]*{re.escape(static_root)}", _joined_dockerfile())


def test_accel_prefix_is_the_internal_location_of_the_mounted_conf(services, mounted_conf):
    env = environment(services["app"])
    prefix = env["FILES_ACCEL_PREFIX"]
    # The internal location that serves files (the error pages' are internal too, and exact: `location = /_...`).
    internal = [loc for loc in server_of(mounted_conf).all("location") if loc.all("internal") and loc.args[0] != "="]
    assert [loc.args for loc in internal] == [[prefix]]
    assert prefix.startswith("/") and prefix.endswith("/")


def test_the_internal_location_fetches_presigned_urls_from_minio(services, mounted_conf):
    env = environment(services["app"])
    store = location(mounted_conf, env["FILES_ACCEL_PREFIX"])
    endpoint = urlsplit(env["AWS_S3_ENDPOINT_URL"])
    proxy_pass = urlsplit(store.one("proxy_pass").args[0])
    # The prefix is replaced by "/": what follows it is the presigned URL's own path and query.
    assert proxy_pass.path == "/"
    assert upstream_servers(mounted_conf, store.one("proxy_pass").args[0]) == [endpoint.netloc]
    headers = dict((d.args[0].lower(), d.args[1]) for d in store.all("proxy_set_header"))
    # SigV4 signs the Host: the one the app presigned for.
    assert headers["host"] == endpoint.netloc
    assert store.one("proxy_method").args == ["GET"]
    assert store.one("proxy_pass_request_headers").args == ["off"]  # no token, cookie or validator reaches MinIO
    assert headers["range"] == "$http_range"  # the app hands nginx only plain single ranges
    assert store.one("proxy_buffering").args == ["off"]


def test_the_internal_location_keeps_the_apps_headers_not_minios(mounted_conf, services):
    store = location(mounted_conf, environment(services["app"])["FILES_ACCEL_PREFIX"])
    hidden = {" ".join(d.args).lower() for d in store.all("proxy_hide_header")}
    # Copied from the app's answer by nginx itself before the redirect; MinIO's must not replace them.
    assert {"content-type", "content-disposition", "cache-control", "expires"} <= hidden
    assert {"x-amz-request-id", "x-amz-id-2", "strict-transport-security"} <= hidden
    saved = {d.args[1]: d.args[0] for d in store.all("set")}  # $upstream_http_x -> $variable
    added = {d.args[0]: d.args[1:] for d in store.all("add_header")}
    for header in APP_DOWNLOAD_HEADERS:
        upstream = "$upstream_http_" + header.lower().replace("-", "_")
        assert header.lower() in hidden, f"MinIO's {header} would reach the client"
        # Read in the rewrite phase, while $upstream_http_* is still the app's answer, not MinIO's.
        assert upstream in saved, f"the app's {header} is not saved before proxy_pass"
        assert added[header] == [saved[upstream], "always"]


def test_the_internal_location_answers_store_errors_in_the_apis_format(mounted_conf, services):
    store = location(mounted_conf, environment(services["app"])["FILES_ACCEL_PREFIX"])
    assert store.one("proxy_intercept_errors").args == ["on"]
    pages = {code: d.args[-1] for d in store.all("error_page") for code in d.args[:-2]}
    assert {"403", "404", "416", "500", "502", "503", "504"} <= set(pages)
    named = {" ".join(loc.args): loc for loc in server_of(mounted_conf).all("location")}
    for code, target in pages.items():
        answer = named[target].one("return")
        assert answer.args[1].startswith('{"detail": ')
        assert answer.args[0] == (code if code in {"404", "416"} else "502")


def _size(value: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    value = value.lower()
    return int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)


def _seconds(value: str) -> int:
    units = {"s": 1, "m": 60}
    return int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)


# What keeps slow clients from holding gunicorn's threads (tests/clinic/test_slow_clients.py runs it).
SLOW_CLIENT_DIRECTIVES = [
    "proxy_request_buffering",
    "client_body_buffer_size",
    "client_body_temp_path",
    "client_max_body_size",
    "client_body_timeout",
    "client_header_timeout",
    "send_timeout",
    "keepalive_timeout",
    "limit_conn",
    "limit_conn_status",
]


@pytest.mark.parametrize("path", NGINX_CONFS, ids=lambda path: path.name)
def test_uploads_are_read_whole_by_nginx_with_room_above_the_apps_request_limit(path):
    from files import conf

    server = server_of(parse_nginx(path.read_text()))
    assert server.one("proxy_request_buffering").args == ["on"]
    assert server.one("client_body_temp_path").args[0].startswith("/")
    limit = _size(server.one("client_max_body_size").args[0])
    # The app's own limit (compose leaves FILES_MAX_REQUEST_SIZE at its default) answers 413 first.
    assert conf.max_request_size() + 1024**2 <= limit <= 1.25 * conf.max_request_size()


@pytest.mark.parametrize("path", NGINX_CONFS, ids=lambda path: path.name)
def test_slow_clients_time_out_but_a_scan_over_a_poor_line_does_not(path):
    conf = parse_nginx(path.read_text())
    server = server_of(conf)
    # Between two reads or writes: a 50 MB scan at 256 kbit/s (26 minutes) gets 32 kB a second.
    for name in ["client_body_timeout", "send_timeout"]:
        assert 30 <= _seconds(server.one(name).args[0]) <= 120, name
    assert 10 <= _seconds(server.one("client_header_timeout").args[0]) <= 60
    assert _seconds(server.one("keepalive_timeout").args[0]) <= 30
    zone = conf.one("limit_conn_zone").args
    assert zone[0] == "$binary_remote_addr"
    assert server.one("limit_conn").args[0] == zone[1].removeprefix("zone=").split(":")[0]
    # A clinic's workstations behind one address, and the test's sixty slow uploads, fit.
    assert int(server.one("limit_conn").args[1]) >= 100
    app = location(conf, "/")
    assert _seconds(app.one("proxy_connect_timeout").args[0]) <= 10
    assert _seconds(app.one("proxy_read_timeout").args[0]) >= 60


def test_both_nginx_configs_treat_slow_clients_alike():
    local, s3 = (server_of(parse_nginx(path.read_text())) for path in NGINX_CONFS)
    for name in SLOW_CLIENT_DIRECTIVES:
        assert local.values(name) == s3.values(name), name


@pytest.mark.parametrize("path", NGINX_CONFS, ids=lambda path: path.name)
def test_nginx_own_refusals_are_in_the_apis_format(path):
    server = server_of(parse_nginx(path.read_text()))
    # `location @name` and `location = /uri`, by their name or URI.
    named = {loc.args[-1]: loc for loc in server.all("location")}
    pages = {code: d.args[-1] for d in server.all("error_page") for code in d.args[:-1] if code.isdigit()}
    assert {"400", "413", "414", "429", "494", "502", "504"} <= set(pages)
    assert server.one("limit_conn_status").args == ["429"]
    for target in pages.values():
        answer = named[target]
        assert answer.one("default_type").args == ["application/json"]
        assert answer.one("return").args[1].startswith('{"detail": ')


def test_nginx_buffers_uploads_on_a_volume(compose, services, mounted_conf):
    temp = server_of(mounted_conf).one("client_body_temp_path").args[0]
    volume = [source for source, target, _ in mounts(services["nginx"]) if target == temp]
    assert volume and volume[0] in compose["volumes"]


def test_the_proxy_passes_the_clients_host_with_its_port(mounted_conf):
    # nginx's $host drops the port: files' URLs and CSRF origins would lose the published 8080.
    app = location(mounted_conf, "/")
    host = {d.args[0].lower(): d.args[1] for d in app.all("proxy_set_header")}["host"]
    maps = {block.args[1]: block.args[0] for block in mounted_conf.all("map")}
    assert host == "$http_host" or maps.get(host) == "$http_host"


@pytest.mark.parametrize("path", NGINX_CONFS, ids=lambda path: path.name)
def test_nginx_logs_no_query_string_nor_referer(path):
    # A signed URL's query opens the file; a presigned store URL's too. (tests/clinic/test_serving_modes.py runs it.)
    text = path.read_text()
    formats = re.findall(r"^log_format (\S+)((?:\s+'[^']*')+);", text, re.MULTILINE)
    assert len(formats) == 1
    name, fields = formats[0]
    assert not re.search(r"\$(request|request_uri|args|arg_\w+|query_string|http_referer)\b", fields)
    assert re.findall(r"^\s*access_log (.+);", text, re.MULTILINE) == [f"/dev/stdout {name}"]


@pytest.mark.parametrize("path", NGINX_CONFS, ids=lambda path: path.name)
def test_nginx_configs_are_valid(path, tmp_path):
    conf = parse_nginx(path.read_text())  # balanced braces, every directive ended
    server = server_of(conf)
    paths = [" ".join(loc.args) for loc in server.all("location")]
    assert {"/", "/assets/", "/_protected_files/"} <= set(paths)
    assert location(conf, "/_protected_files/").all("internal")
    nginx = nginx_binary()
    # nginx -t resolves upstream host names: the compose services' names point at loopback here.
    site = re.sub(r"\b(app|minio):(\d+)", r"127.0.0.1:\2", path.read_text())
    # The image's folder for buffered bodies, which nginx would create: one of the test's own instead.
    site = re.sub(r"client_body_temp_path \S+;", f"client_body_temp_path {tmp_path}/client_body;", site)
    (tmp_path / "site.conf").write_text(site)
    main = write_main_conf(tmp_path)
    result = subprocess.run(  # noqa: S603 (nginx found on this machine, fixed arguments)
        [nginx, "-t", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- the image ---------------------------------------------------------------------------------------------------


def _joined_dockerfile() -> str:
    """The Dockerfile with its continuation lines joined."""
    return re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())


def test_the_image_runs_gunicorn_as_a_user_of_its_own():
    dockerfile = _joined_dockerfile()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN pip install (--\S+ )*-r requirements\.txt", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd and yaml.safe_load(cmd[1]) == ["gunicorn", "-c", "gunicorn.conf.py", "clinic.wsgi"]
    assert not re.search(r"^(ENV|ARG) .*DJANGO_SECRET_KEY", dockerfile, re.MULTILINE)  # no baked-in secret


def test_dockerignore_keeps_secrets_local_data_and_caches_out():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", "var", ".git", "**/__pycache__", ".pytest_cache", ".ruff_cache", "bench"} <= ignored


def test_worker_and_beat_run_the_app_with_its_environment_and_redis_as_broker(services):
    app = environment(services["app"])
    # One Redis, two databases: the jobs' queue apart from the cache's counts.
    assert (app["REDIS_URL"], app["CELERY_BROKER_URL"]) == ("redis://redis:6379/0", "redis://redis:6379/1")
    assert services["redis"]["image"].startswith("redis:")
    for name, role in (("worker", "worker"), ("beat", "beat")):
        assert environment(services[name]) == app
        assert services[name]["command"][:4] == ["celery", "-A", "clinic", role]
        assert depends_on(services[name]) == {"app": "service_healthy"}
