"""The container set-up (docker-compose.yml, Dockerfile, the README) checked against the code it starts.

Nothing here runs Docker: the files are parsed. What these tests catch is drift: a service dropped or renamed,
a healthcheck lost, a volume used but not declared, a command that names a module, Celery app or management
command that no longer exists, an image whose default command is not the web service's, and a README whose
instructions for running each service by hand no longer match the compose file. And the shape of a system that
outgrows one host (#21): at least two web hosts behind the proxy, alike, keeping no state of their own, and sharing
the export storage with the worker.
"""

from __future__ import annotations

import ast
import ipaddress
import json
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
README = PROJECT_ROOT / "README.md"

# Two web hosts (gunicorn) behind the proxy: any of them answers any request.
WEB_SERVICES = ("web1", "web2")
EXPECTED_SERVICES = {"postgres", "redis", "roles", "migrate", *WEB_SERVICES, "worker", "beat", "proxy"}
# Services that run once and exit: a healthcheck means nothing for them.
ONE_SHOT_SERVICES = {"roles", "migrate"}
# The services of the running application: they connect as the application's database role, which owns nothing.
APPLICATION_SERVICES = (*WEB_SERVICES, "worker", "beat")
# The services that write or read export files: they share one export storage.
EXPORT_SERVICES = (*WEB_SERVICES, "worker")


# --- Reading the files ----------------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE.name} is missing from the project root"
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{COMPOSE_FILE.name} is not a YAML mapping"
    assert isinstance(data.get("services"), dict), f"{COMPOSE_FILE.name} has no `services:` mapping"
    return data


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def built_service_names() -> list[str]:
    """The services built from the project's Dockerfile; [] when the compose file cannot be read (another
    test then fails and says why), so that collecting this module never errors."""
    try:
        return sorted(name for name, service in services().items() if "build" in service)
    except (AssertionError, yaml.YAMLError):
        return []


def command_argv(service_name: str) -> list[str]:
    command = services()[service_name].get("command")
    assert command, (
        f"service {service_name!r} has no `command:`; give it one explicitly, so that the compose file and "
        "the README say what it runs"
    )
    return [str(part) for part in command] if isinstance(command, list) else shlex.split(command)


def command_line(service_name: str) -> str:
    """The command as one string, as someone would type it in a shell."""
    command = services()[service_name]["command"]
    return shlex.join(str(part) for part in command) if isinstance(command, list) else command


@cache
def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comment lines dropped."""
    assert DOCKERFILE.is_file(), f"{DOCKERFILE.name} is missing from the project root"
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw_line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def module_file(module: str) -> Path | None:
    """The project file of a dotted module name (module.py or package/__init__.py), or None."""
    base = PROJECT_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def defines(path: Path, name: str) -> bool:
    """Whether the module's top level binds ``name`` (assignment, def, class or import)."""
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                return True
            continue
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names):
                return True
            continue
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            return True
    return False


# --- Checking one command against the code --------------------------------------------------------------------


def check_gunicorn(argv: list[str]) -> None:
    from gunicorn.config import Config

    try:
        arguments = Config().parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"gunicorn does not accept these arguments: {shlex.join(argv)}")
    assert len(arguments.args) == 1, f"expected exactly one WSGI application in {shlex.join(argv)}"
    module, _, attribute = arguments.args[0].partition(":")
    attribute = attribute or "application"  # gunicorn's default
    path = module_file(module)
    assert path, f"gunicorn serves {arguments.args[0]!r}, but there is no module {module!r} in the project"
    assert defines(path, attribute), (
        f"gunicorn serves {arguments.args[0]!r}, but {path.relative_to(PROJECT_ROOT)} defines no {attribute!r}"
    )


def check_celery(argv: list[str]) -> None:
    app_spec = None
    for index, argument in enumerate(argv):
        if argument in {"-A", "--app"} and index + 1 < len(argv):
            app_spec = argv[index + 1]
        elif argument.startswith("--app="):
            app_spec = argument.removeprefix("--app=")
        elif argument.startswith("-A") and len(argument) > 2:
            app_spec = argument[2:]
    assert app_spec, f"no Celery app (-A) given in {shlex.join(argv)}"
    # Celery's own lookup for `-A name`: `name.app`, `name.celery`, then the submodule `name.celery`.
    if ":" in app_spec:
        candidates = [tuple(app_spec.split(":", 1))]
    else:
        candidates = [(module, attr) for module in (app_spec, f"{app_spec}.celery") for attr in ("app", "celery")]
    for module, attribute in candidates:
        path = module_file(module)
        if path and defines(path, attribute):
            return
    looked_for = ", ".join(f"{module}:{attribute}" for module, attribute in candidates)
    pytest.fail(f"`celery -A {app_spec}` finds no Celery app in the project (looked for {looked_for})")


def check_manage_py(argv: list[str]) -> None:
    from django.core.management import get_commands

    assert (PROJECT_ROOT / "manage.py").is_file(), "manage.py is missing from the project root"
    assert len(argv) >= 3, f"no management command given in {shlex.join(argv)}"
    command = argv[2]
    assert command in get_commands(), (
        f"`manage.py {command}` is neither a Django built-in nor a command of an installed app"
    )


# --- The tests ------------------------------------------------------------------------------------------------


def test_compose_defines_every_service() -> None:
    missing = EXPECTED_SERVICES - set(services())
    assert not missing, f"{COMPOSE_FILE.name} lacks the service(s) {sorted(missing)}"


def test_every_long_running_service_has_a_healthcheck() -> None:
    without = []
    for name, service in services().items():
        if name in ONE_SHOT_SERVICES:
            continue
        healthcheck = service.get("healthcheck") or {}
        test = healthcheck.get("test")
        if not test or healthcheck.get("disable") or test in (["NONE"], "NONE"):
            without.append(name)
    assert not without, f"these services have no healthcheck, so nothing notices when they hang: {without}"


def test_depends_on_conditions_can_be_met() -> None:
    """`condition: service_healthy` on a service without a healthcheck stops `docker compose up` cold."""
    problems = []
    for name, service in services().items():
        depends_on = service.get("depends_on") or {}
        if isinstance(depends_on, list):
            depends_on = {dependency: {} for dependency in depends_on}
        for dependency, options in depends_on.items():
            if dependency not in services():
                problems.append(f"{name} depends on {dependency!r}, which is not a service")
            elif (options or {}).get("condition") == "service_healthy" and not services()[dependency].get(
                "healthcheck"
            ):
                problems.append(f"{name} waits for {dependency} to be healthy, but {dependency} has no healthcheck")
    assert not problems, "; ".join(problems)


def test_named_volumes_are_declared_at_top_level() -> None:
    declared = set(compose().get("volumes") or {})
    undeclared = []
    for name, service in services().items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict):
                source = volume.get("source") if volume.get("type", "volume") == "volume" else None
            else:
                source, separator, _ = str(volume).partition(":")
                if not separator:  # only a container path: an anonymous volume
                    source = None
            is_host_path = source is not None and source.startswith(("/", ".", "~", "$"))
            if source and not is_host_path and source not in declared:
                undeclared.append(f"{name}: {source}")
    # docker compose refuses to start a project that uses a named volume it does not declare.
    assert not undeclared, f"named volumes used but not declared under top-level `volumes:`: {undeclared}"


@pytest.mark.parametrize("service_name", built_service_names())
def test_command_of_built_service_names_existing_code(service_name: str) -> None:
    argv = command_argv(service_name)
    if argv[0] == "gunicorn":
        check_gunicorn(argv)
    elif argv[0] == "celery":
        check_celery(argv)
    elif argv[0].startswith("python") and argv[1:2] == ["manage.py"]:
        check_manage_py(argv)
    else:
        pytest.fail(
            f"service {service_name!r} runs {shlex.join(argv)!r}, which this test does not know how to check; "
            "teach it (tests/test_docker_compose.py)"
        )


def test_built_services_exist() -> None:
    """Guards the parametrised test above: with no built services it would silently check nothing."""
    assert {"roles", "migrate", *WEB_SERVICES, "worker", "beat"} <= set(built_service_names()), (
        f"roles, migrate, {', '.join(WEB_SERVICES)}, worker and beat must each `build:` the project image; "
        f"built: {built_service_names()}"
    )


def test_dockerfile_default_command_is_the_web_command() -> None:
    commands = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "CMD"]
    assert commands, f"{DOCKERFILE.name} has no CMD"
    cmd = commands[-1]  # the last CMD is the one that counts
    image_argv = json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)
    for web in WEB_SERVICES:
        assert image_argv == command_argv(web), (
            f"the image's default command {shlex.join(image_argv)!r} differs from {web}'s "
            f"{shlex.join(command_argv(web))!r}; `docker run` of the image and `docker compose up {web}` must agree"
        )


def test_dockerfile_does_not_bake_a_secret_key_into_the_image() -> None:
    """The build-time key for collectstatic is an ARG; an ENV would hand it to every container."""
    for keyword, arguments in dockerfile_instructions():
        if keyword != "ENV":
            continue
        words = shlex.split(arguments)
        names = [word.split("=", 1)[0] for word in words] if "=" in words[0] else words[:1]
        assert "SECRET_KEY" not in names, f"{DOCKERFILE.name} sets SECRET_KEY with ENV: ENV {arguments}"


def test_readme_shows_how_to_run_each_service_by_hand() -> None:
    assert README.is_file(), (
        "README.md is missing; its section 'Running each service by hand' must list the command of each "
        "built service of docker-compose.yml"
    )
    text = README.read_text(encoding="utf-8")
    missing = [f"{name}: {command_line(name)}" for name in built_service_names() if command_line(name) not in text]
    assert not missing, (
        "README.md does not show these service commands verbatim (section 'Running each service by hand'); "
        f"update it or docker-compose.yml: {missing}"
    )


def readme_services_by_hand() -> dict[str, str]:
    """The rows of the README's table under 'Running each service by hand': service name → how to run it (a row
    may name several services, comma-separated, run the same way)."""
    text = README.read_text(encoding="utf-8")
    heading = "### Running each service by hand"
    assert heading in text, f"README.md has no section {heading!r}"
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or cells[0] in {"service", ""} or set(cells[0]) <= {"-", " "}:
            continue
        for name in cells[0].split(","):
            rows[name.strip()] = cells[1]
    return rows


def test_the_readme_says_how_to_run_every_service_of_the_compose_file_by_hand() -> None:
    """Not only the built ones: the database, Redis and the proxy too, each with a row that says how."""
    rows = readme_services_by_hand()
    missing = sorted(set(services()) - set(rows))
    assert not missing, f"README.md's 'Running each service by hand' has no row for {missing}"
    unknown = sorted(set(rows) - set(services()))
    assert not unknown, f"README.md's 'Running each service by hand' names services compose does not have: {unknown}"
    empty = sorted(name for name, how in rows.items() if not how)
    assert not empty, f"README.md's rows for {empty} do not say how to run them"
    for name in built_service_names():
        assert command_line(name) in rows[name], f"README.md's row for {name} does not show {command_line(name)!r}"


# --- The reverse proxy and the database roles -------------------------------------------------------------------


def environment(service_name: str) -> dict[str, str]:
    env = services()[service_name].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def database_role(url: str) -> tuple[str, str, str]:
    """(role, host, database) of a database URL whose password may be a ${VARIABLE} of the compose file."""
    parts = urlsplit(re.sub(r"\$\{[^}]*\}", "secret", url))
    return parts.username or "", parts.hostname or "", parts.path.lstrip("/")


def published_ports(service_name: str) -> list[Any]:
    return list(services()[service_name].get("ports") or [])


def test_only_the_proxy_publishes_ports() -> None:
    """The web service trusts X-Forwarded-Proto and, from the proxy, X-Forwarded-For: nothing but the proxy may
    reach it."""
    for web in WEB_SERVICES:
        assert not published_ports(web), f"{web} publishes {published_ports(web)}; only the proxy may"
    assert published_ports("proxy"), "the proxy publishes no port: nothing could reach the application"
    others = {name: published_ports(name) for name in services() if name != "proxy" and published_ports(name)}
    assert not others, f"only the proxy may publish ports: {others}"


def test_the_application_trusts_exactly_the_proxy_address() -> None:
    proxy_networks = services()["proxy"].get("networks") or {}
    assert isinstance(proxy_networks, dict) and proxy_networks.get("default"), "the proxy needs a fixed address"
    address = ipaddress.ip_address(proxy_networks["default"]["ipv4_address"])
    subnets = [config["subnet"] for config in compose()["networks"]["default"]["ipam"]["config"]]
    assert any(address in ipaddress.ip_network(subnet) for subnet in subnets), (
        f"the proxy's address {address} is outside the compose network {subnets}"
    )
    for name in built_service_names():
        trusted = environment(name).get("TRUSTED_PROXIES", "")
        assert trusted == str(address), f"{name} trusts X-Forwarded-For from {trusted!r}, not the proxy ({address})"


def proxy_configuration() -> tuple[str, str]:
    """(path, text) of the nginx server configuration the proxy mounts."""
    mounts = [str(volume) for volume in services()["proxy"].get("volumes") or []]
    configuration = next((mount.split(":")[0] for mount in mounts if mount.endswith("default.conf:ro")), None)
    assert configuration, f"the proxy mounts no server configuration: {mounts}"
    path = PROJECT_ROOT / configuration
    assert path.is_file(), f"{configuration} is missing"
    return configuration, path.read_text(encoding="utf-8")


def web_port(service_name: str) -> str:
    return next(
        argument.rsplit(":", 1)[1] for argument in command_argv(service_name) if argument.startswith("0.0.0.0:")
    )


def test_the_proxy_sets_the_client_headers_and_passes_to_web() -> None:
    configuration, text = proxy_configuration()
    for web in WEB_SERVICES:
        port = web_port(web)
        assert re.search(rf"server\s+{web}:{port}\b[^;]*;", text), f"{configuration} does not pass to {web}:{port}"
    # Set from what nginx saw, never passed on from the client.
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr\s*;", text)
    assert re.search(r"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme\s*;", text)


def test_migrate_runs_as_the_owner_and_the_application_as_a_role_that_owns_nothing() -> None:
    roles = environment("roles")
    owner = database_role(roles["MIGRATION_DATABASE_URL"])
    application = database_role(roles["DATABASE_URL"])
    assert owner[0] and application[0] and owner[0] != application[0], (owner, application)
    assert owner[1:] == application[1:], "the owner and the application's role must name the same database"
    assert database_role(environment("migrate")["DATABASE_URL"]) == owner, "migrate must connect as the owner"
    for name in APPLICATION_SERVICES:
        env = environment(name)
        assert database_role(env["DATABASE_URL"]) == application, f"{name} must connect as {application[0]}"
        leaked = {"MIGRATION_DATABASE_URL", "DATABASE_ADMIN_URL"} & set(env)
        assert not leaked, f"{name} is given {sorted(leaked)}: the application must not know how to be the owner"
        assert not any("OWNER_PASSWORD" in value or "POSTGRES_PASSWORD" in value for value in env.values()), name


def test_the_tls_key_folder_is_never_sent_to_the_image_build() -> None:
    """`COPY . .` would put the proxy's private key into every application image."""
    mounts = [str(volume) for volume in services()["proxy"].get("volumes") or []]
    certificates = next((mount for mount in mounts if mount.endswith(":/etc/nginx/certs:ro")), "")
    default = re.sub(r"\$\{[^}]*:-([^}]*)\}", r"\1", certificates.split(":/etc/nginx/certs")[0])
    assert default.startswith("./"), f"the proxy's certificate folder is not a folder of the project: {mounts}"
    ignored = (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert default.removeprefix("./").rstrip("/") in ignored, f".dockerignore must list {default}"


# --- Beyond one host ------------------------------------------------------------------------------------------


def gunicorn_services() -> list[str]:
    """The services that run gunicorn: the web hosts."""
    return sorted(
        name for name, service in services().items() if service.get("command") and command_argv(name)[0] == "gunicorn"
    )


def test_two_web_hosts_run_alike_behind_the_proxy() -> None:
    """At least two web services, the same image, command, environment and health check; the proxy's upstream
    lists every one of them and nothing else, and the proxy waits for each to be healthy."""
    webs = gunicorn_services()
    assert webs == sorted(WEB_SERVICES) and len(webs) >= 2, f"the web services are {webs}, not {WEB_SERVICES}"
    first = services()[webs[0]]
    for web in webs[1:]:
        for key in ("build", "command", "environment", "healthcheck", "volumes", "depends_on"):
            assert services()[web].get(key) == first.get(key), f"{web} and {webs[0]} differ in `{key}:`"
    configuration, text = proxy_configuration()
    upstream = re.search(r"upstream\s+\w+\s*\{(?P<body>[^}]*)\}", text)
    assert upstream, f"{configuration} has no upstream block"
    listed = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", upstream["body"], flags=re.MULTILINE)
    assert sorted(listed) == sorted((web, web_port(web)) for web in webs), (
        f"{configuration}'s upstream lists {listed}, not every web service"
    )
    waits = services()["proxy"].get("depends_on") or {}
    for web in webs:
        assert (waits.get(web) or {}).get("condition") == "service_healthy", f"the proxy does not wait for {web}"


def test_web_hosts_and_the_worker_share_the_export_storage_and_keep_nothing_else() -> None:
    """What a worker writes a web host serves: the same export storage for all (one named volume at EXPORT_ROOT on
    one Docker host; the bucket's variables passed through for object storage). A web host mounts nothing else:
    it keeps no state of its own."""
    for name in EXPORT_SERVICES:
        env = environment(name)
        root = env.get("EXPORT_ROOT", "")
        mounts = [str(volume) for volume in services()[name].get("volumes") or []]
        assert f"exports-data:{root}" in mounts, f"{name} does not mount the shared export volume at {root!r}"
        for variable in ("EXPORT_S3_BUCKET", "AWS_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert variable in env, f"{name} is not given {variable} (object storage shared by several hosts)"
    assert len({environment(name)["EXPORT_ROOT"] for name in EXPORT_SERVICES}) == 1
    for web in WEB_SERVICES:
        assert [str(volume) for volume in services()[web].get("volumes") or []] == [
            f"exports-data:{environment(web)['EXPORT_ROOT']}"
        ], f"{web} mounts more than the export storage"
    assert "exports-data" in (compose().get("volumes") or {})
