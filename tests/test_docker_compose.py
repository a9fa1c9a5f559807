"""The container set-up (docker-compose.yml, Dockerfile, the README) checked against the code it starts.

Nothing here runs Docker: the files are parsed. What these tests catch is drift: a service dropped or renamed,
a healthcheck lost, a volume used but not declared, a command that names a module, Celery app or management
command that no longer exists, an image whose default command is not the web service's, and a README whose
instructions for running each service by hand no longer match the compose file.
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

EXPECTED_SERVICES = {"postgres", "redis", "roles", "migrate", "web", "worker", "beat", "proxy"}
# Services that run once and exit: a healthcheck means nothing for them.
ONE_SHOT_SERVICES = {"roles", "migrate"}
# The services of the running application: they connect as the application's database role, which owns nothing.
APPLICATION_SERVICES = ("web", "worker", "beat")


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
    assert {"roles", "migrate", "web", "worker", "beat"} <= set(built_service_names()), (
        f"roles, migrate, web, worker and beat must each `build:` the project image; built: {built_service_names()}"
    )


def test_dockerfile_default_command_is_the_web_command() -> None:
    commands = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "CMD"]
    assert commands, f"{DOCKERFILE.name} has no CMD"
    cmd = commands[-1]  # the last CMD is the one that counts
    image_argv = json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)
    assert image_argv == command_argv("web"), (
        f"the image's default command {shlex.join(image_argv)!r} differs from the web service's "
        f"{shlex.join(command_argv('web'))!r}; `docker run` of the image and `docker compose up web` must agree"
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
    assert not published_ports("web"), f"web publishes {published_ports('web')}; only the proxy may"
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


def test_the_proxy_sets_the_client_headers_and_passes_to_web() -> None:
    mounts = [str(volume) for volume in services()["proxy"].get("volumes") or []]
    configuration = next((mount.split(":")[0] for mount in mounts if mount.endswith("default.conf:ro")), None)
    assert configuration, f"the proxy mounts no server configuration: {mounts}"
    path = PROJECT_ROOT / configuration
    assert path.is_file(), f"{configuration} is missing"
    text = path.read_text(encoding="utf-8")
    web_port = next(argument.rsplit(":", 1)[1] for argument in command_argv("web") if argument.startswith("0.0.0.0:"))
    assert re.search(rf"server\s+web:{web_port}\s*;", text), f"{configuration} does not pass to web:{web_port}"
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
