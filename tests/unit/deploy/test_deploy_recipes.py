"""The deployment recipes in deploy/ (docs/deploy.md), read as files: every MODELYARD_* name they set is a
setting the code reads, the scaled shape's required settings are there and valid, commands and options exist
in the CLI, health checks hit real routes, the proxy balances the API services on the ports they serve, and
every file they refer to exists. Docker is not needed (nor run)."""
from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from fastapi.testclient import TestClient

from modelyard.config import Settings

ROOT = Path(__file__).parents[3]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
UNITS = {"serve": DEPLOY / "systemd" / "modelyard-serve.service",
         "worker": DEPLOY / "systemd" / "modelyard-worker.service"}
UNIT_ENV = DEPLOY / "systemd" / "modelyard.env.example"
NAME = re.compile(r"\bMODELYARD_[A-Z0-9_]+\b")
# Read by the processes themselves rather than through Settings (each must appear as an os.environ read in src).
PROCESS_VARIABLES = {"MODELYARD_LOG_LEVEL"}
SCALED_REQUIRED = {"MODELYARD_DATABASE_URL", "MODELYARD_QUEUE_URL", "MODELYARD_REDIS_URL", "MODELYARD_BLOB_URL",
                   "MODELYARD_S3_ENDPOINT_URL", "MODELYARD_S3_ACCESS_KEY_ID", "MODELYARD_S3_SECRET_ACCESS_KEY",
                   "MODELYARD_SECRET_KEY"}
APP_SERVICES = ("api1", "api2", "worker", "migrate")


def setting_names() -> set[str]:
    return {f"MODELYARD_{field.upper()}" for field in Settings.model_fields}


def known_names() -> set[str]:
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "modelyard").rglob("*.py"))
    for name in PROCESS_VARIABLES:
        assert re.search(rf"os\.environ(\.get)?\(?\[?[\"']{name}[\"']", source), f"{name} is not read by the code"
    return setting_names() | PROCESS_VARIABLES


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def substituted(value: str) -> str:
    """A compose value with its ${VAR...} references filled as compose would: ${VAR:-default} by its default,
    the others as an operator's .env would (secrets long enough)."""
    def fill(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        return default if default is not None else f"value-of-{name.lower()}-" + "x" * 24

    return re.sub(r"\$\{([A-Z0-9_]+)(?::-([^}]*)|[^}]*)\}", fill, value)


def cli_options() -> dict[str, set[str]]:
    import typer.main

    from modelyard.cli import app

    group = typer.main.get_command(app)
    return {name: {o for p in command.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
            for name, command in group.commands.items()}


def check_command(argv: list[str]) -> tuple[str, dict[str, str]]:
    """The modelyard subcommand of `argv` and its options, each checked against the CLI."""
    assert Path(argv[0]).name == "modelyard", argv
    subcommand, options = argv[1], cli_options()
    assert subcommand in options, f"modelyard has no command {subcommand!r}"
    given, rest = {}, argv[2:]
    while rest:
        option = rest.pop(0)
        assert option in options[subcommand], f"modelyard {subcommand} has no option {option}"
        given[option] = rest.pop(0) if rest and not rest[0].startswith("--") else ""
    return subcommand, given


@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    from modelyard.app import create_app

    home = tmp_path_factory.mktemp("home")
    settings = Settings(_env_file=None, home=home, secret_key="deploy-test-secret-key-0123456789abcdef",
                        admin_password="deploy-test-admin-1")
    with TestClient(create_app(settings, immediate_jobs=True)) as client:
        yield client


def assert_health_route(client: TestClient, url: str) -> None:
    path = urlsplit(url).path
    response = client.get(path)
    assert response.status_code == 200 and response.json()["status"] == "healthy", (path, response.text)


# Compose ---------------------------------------------------------------------------------------------------


def test_compose_has_the_scaled_shape_services(compose):
    assert {"proxy", "api1", "api2", "worker", "migrate", "postgres", "redis", "minio"} <= set(compose["services"])


def test_every_modelyard_name_in_compose_is_a_setting_the_code_reads():
    used = set(NAME.findall(COMPOSE.read_text()))
    assert used, "compose.yaml sets no MODELYARD_* setting"
    assert used <= known_names(), f"not settings of config.Settings: {sorted(used - known_names())}"


def test_every_modelyard_service_has_the_scaled_settings_and_they_validate(compose):
    services = compose["services"]
    for name in APP_SERVICES:
        env = environment(services[name])
        assert SCALED_REQUIRED <= set(env), f"{name} lacks {sorted(SCALED_REQUIRED - set(env))}"
        values = {k[len("MODELYARD_"):].lower(): substituted(v) for k, v in env.items() if k in setting_names()}
        settings = Settings(_env_file=None, **values)
        assert settings.resolved_database_url.startswith("postgresql+psycopg://")
        assert settings.resolved_queue_url.startswith("redis://") and not settings.runs_embedded_worker
        assert settings.redis_url.startswith("redis://") and settings.blob_url.startswith("s3://")
        hosts = {urlsplit(url).hostname for url in (settings.database_url, settings.queue_url, settings.redis_url,
                                                    settings.s3_endpoint_url)}
        assert hosts <= set(services), f"{name}: hosts {sorted(hosts - set(services))} are not compose services"
        # It waits for what it uses; the database through `migrate`, which waits for it.
        waits = set(services[name]["depends_on"])
        waits |= set(services["migrate"]["depends_on"]) if "migrate" in waits else set()
        needs = {urlsplit(settings.database_url).hostname} if name == "migrate" else hosts
        assert needs <= waits, f"{name} does not wait for {sorted(needs - waits)}"
    assert environment(services["api1"]) == environment(services["api2"])


def test_the_secrets_compose_interpolates_are_in_env_example(compose):
    wanted = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text()))
    listed = {line.split("=", 1)[0].lstrip("# ").strip() for line in (DEPLOY / "env.example").read_text().splitlines()
              if "=" in line}
    assert wanted and wanted <= listed, f"missing from env.example: {sorted(wanted - listed)}"
    optional = set(re.findall(r"\$\{([A-Z0-9_]+):-", COMPOSE.read_text()))
    assert optional <= listed


def test_compose_commands_are_real_cli_commands_and_the_migration_runs_first(compose):
    services = compose["services"]
    commands = {name: check_command(services[name]["command"]) for name in APP_SERVICES}
    assert commands["api1"][0] == commands["api2"][0] == "serve" and "--no-ui" in commands["api1"][1]
    assert commands["worker"][0] == "worker" and commands["migrate"][0] == "migrate"
    for name in ("api1", "api2", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"].get("restart") == "no"


def test_the_image_is_built_from_files_that_exist(compose):
    for name in APP_SERVICES:
        build = compose["services"][name]["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        dockerfile = context / build["dockerfile"]
        assert context == ROOT and dockerfile.is_file(), build
    text = (DEPLOY / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in shlex.split(line)[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the context"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(ignore)
    assert "pip install --no-cache-dir --no-index" in text  # nothing fetched from an index after the build stage
    assert re.search(r"pip wheel .*--wheel-dir /wheels \.", text)


def test_bind_mounted_files_exist(compose):
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).is_file(), volume


def test_compose_health_checks_hit_the_apps_health_route(compose, app_client):
    checked = 0
    for name in ("api1", "api2", "proxy"):
        test = " ".join(compose["services"][name]["healthcheck"]["test"])
        for url in re.findall(r"https?://[^'\"\s]+", test):
            assert_health_route(app_client, url)
            checked += 1
    assert checked == 3


# The proxy -------------------------------------------------------------------------------------------------


def nginx_blocks(text: str) -> list:
    """nginx's configuration as nested [name, args, children] (comments dropped, quotes kept as written)."""
    tokens = re.findall(r"'[^']*'|\"[^\"]*\"|[{};]|[^\s{};]+", re.sub(r"#[^\n]*", "", text))
    stack: list[list] = [[]]
    words: list[str] = []
    for token in tokens:
        if token == ";":
            stack[-1].append([words[0], words[1:], []])
            words = []
        elif token == "{":
            block = [words[0], words[1:], []]
            stack[-1].append(block)
            stack.append(block[2])
            words = []
        elif token == "}":
            stack.pop()
        else:
            words.append(token)
    assert len(stack) == 1 and not words, "unbalanced nginx.conf"
    return stack[0]


def find(blocks: list, name: str, *args: str) -> list[list]:
    found = []
    for block in blocks:
        if block[0] == name and (not args or tuple(block[1][:len(args)]) == args):
            found.append(block)
        found += find(block[2], name, *args)
    return found


def directives(block: list) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for child in block[2]:
        out.setdefault(child[0], []).append(child[1])
    return out


@pytest.fixture(scope="module")
def nginx():
    return nginx_blocks((DEPLOY / "nginx.conf").read_text())


def test_the_proxy_balances_exactly_the_api_services_on_the_port_they_serve(compose, nginx):
    [upstream] = find(nginx, "upstream")
    servers = {args[0] for args in directives(upstream)["server"]}
    served = set()
    for name in ("api1", "api2"):
        _, options = check_command(compose["services"][name]["command"])
        assert options["--host"] == "0.0.0.0", "the API must listen beyond the container's loopback"
        served.add(f"{name}:{options['--port']}")
        assert options["--port"] in map(str, compose["services"][name]["expose"])
    assert servers == served
    upstream_name = upstream[1][0]
    for location in find(nginx, "location"):
        assert directives(location)["proxy_pass"] == [[f"http://{upstream_name}"]], location[1]


def test_the_proxy_listens_on_the_port_compose_publishes(compose, nginx):
    [server] = [block for block in find(nginx, "server") if block[2]]  # the server block, not upstream servers
    listens = {args[0] for args in directives(server)["listen"]}
    published = {substituted(p).rsplit(":", 1)[1] for p in compose["services"]["proxy"]["ports"]}
    assert published == listens
    mounted = [v for v in compose["services"]["proxy"]["volumes"] if v.startswith("./nginx.conf:")]
    assert mounted == ["./nginx.conf:/etc/nginx/nginx.conf:ro"]


def test_the_proxy_passes_websocket_upgrades_for_the_apps_ws_route(nginx, app_client):
    [location] = find(nginx, "location", "/ws")
    settings = directives(location)
    assert settings["proxy_http_version"] == [["1.1"]]
    headers = {args[0]: args[1] for args in settings["proxy_set_header"]}
    assert headers["Upgrade"] == "$http_upgrade" and headers["Connection"] == "$connection_upgrade"
    [upgrade_map] = find(nginx, "map", "$http_upgrade", "$connection_upgrade")
    assert directives(upgrade_map)["default"] == [["upgrade"]]
    with app_client.websocket_connect("/ws") as socket:  # the route exists: it asks for a token
        assert socket.receive_json()["code"] == "AUTHENTICATION_REQUIRED"


def test_the_proxy_lets_uploads_up_to_modelyards_own_limit_through(compose, nginx):
    [size] = directives(find(nginx, "http")[0])["client_max_body_size"]
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    limit = int(size[0][:-1]) * units[size[0][-1].lower()]
    configured = environment(compose["services"]["api1"]).get("MODELYARD_MAX_UPLOAD_BYTES")
    assert limit > (int(configured) if configured else Settings.model_fields["max_upload_bytes"].default)


# systemd ---------------------------------------------------------------------------------------------------


def unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as {section: [(key, value), ...]} (keys may repeat, as systemd allows)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None and "=" in line, f"{path.name}: not a unit line: {raw!r}"
        key, value = line.split("=", 1)
        current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


@pytest.mark.parametrize("command", list(UNITS))
def test_each_systemd_unit_runs_its_modelyard_command_with_real_options(command):
    sections = unit(UNITS[command])
    assert set(sections) == {"Unit", "Service", "Install"}
    service = sections["Service"]
    [start] = values(service, "ExecStart")
    assert check_command(shlex.split(start))[0] == command
    for pre in values(service, "ExecStartPre"):
        assert check_command(shlex.split(pre))[0] == "migrate"
    assert values(service, "User") == ["modelyard"] and values(service, "Restart") == ["on-failure"]
    assert values(sections["Install"], "WantedBy") == ["multi-user.target"]
    writable = values(service, "ReadWritePaths")
    for env in values(service, "Environment"):
        name, value = env.split("=", 1)
        assert name in known_names(), f"{UNITS[command].name}: {name} is not a setting"
        if name == "MODELYARD_HOME":
            assert value in writable and values(service, "WorkingDirectory") == [value]


def test_the_serve_unit_migrates_first_and_waits_for_its_own_health_route(app_client):
    service = unit(UNITS["serve"])["Service"]
    assert [check_command(shlex.split(v))[0] for v in values(service, "ExecStartPre")] == ["migrate"]
    _, options = check_command(shlex.split(values(service, "ExecStart")[0]))
    [post] = values(service, "ExecStartPost")
    urls = re.findall(r"https?://[^'\"\s;]+", post)
    assert urls and all(urlsplit(u).port == int(options["--port"]) for u in urls)
    for url in urls:
        assert_health_route(app_client, url)
    assert "--no-ui" in options


def test_systemd_itself_reads_the_units_without_complaint_beyond_the_missing_install():
    """`systemd-analyze verify` parses the units as systemd will; here the venv it points at is not installed."""
    import shutil
    import subprocess

    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI") == "true":  # .ci/run installs it: missing there is a failure, not a skip
            pytest.fail("systemd-analyze is not installed (.ci/run installs Debian's systemd)")
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    result = subprocess.run(["systemd-analyze", "verify", *map(str, UNITS.values())], capture_output=True,
                            text=True, timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    missing = "Command /opt/modelyard/venv/bin/modelyard is not executable: No such file or directory"
    assert all(line.endswith(missing) for line in complaints), complaints


def test_the_units_settings_file_sets_only_settings_and_the_scaled_ones():
    files = {v.lstrip("-") for path in UNITS.values() for v in values(unit(path)["Service"], "EnvironmentFile")}
    assert files == {"/etc/modelyard/modelyard.env"}
    assert "/etc/modelyard/modelyard.env" in UNIT_ENV.read_text()
    entries = dict(line.split("=", 1) for line in UNIT_ENV.read_text().splitlines()
                   if line and not line.startswith("#"))
    assert set(entries) <= known_names(), sorted(set(entries) - known_names())
    assert SCALED_REQUIRED <= set(entries), sorted(SCALED_REQUIRED - set(entries))
    settings = Settings(_env_file=None, **{k[len("MODELYARD_"):].lower(): v for k, v in entries.items()
                                           if k in setting_names()})
    assert settings.resolved_queue_url.startswith("redis://") and not settings.runs_embedded_worker
    assert settings.blob_url.startswith("s3://") and settings.database_url.startswith("postgresql://")


# Docs ------------------------------------------------------------------------------------------------------


def test_the_deploy_docs_name_every_recipe_and_the_upgrade_steps():
    doc = (ROOT / "docs" / "deploy.md").read_text()
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        assert path.name in doc, f"docs/deploy.md does not mention {path.relative_to(ROOT)}"
    for words in ("Back up", "pg_dump", "modelyard migrate", "Rolling restart", "Not run here"):
        assert words in doc, words
