"""The container set-up (docker-compose.yml, Dockerfile, the README) checked against the code it starts.

Nothing here runs Docker: the files are parsed. What these tests catch is drift: a service dropped or renamed,
a healthcheck lost, a volume used but not declared, a command that names a module, Celery app or management
command that no longer exists, an image whose default command is not the web service's, and a README whose
instructions for running each service by hand no longer match the compose file.
"""

from __future__ import annotations

import ast
import json
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
README = PROJECT_ROOT / "README.md"

EXPECTED_SERVICES = {"postgres", "redis", "migrate", "web", "worker", "beat"}
# Services that run once and exit: a healthcheck means nothing for them.
ONE_SHOT_SERVICES = {"migrate"}


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
    assert {"migrate", "web", "worker", "beat"} <= set(built_service_names()), (
        f"migrate, web, worker and beat must each `build:` the project image; built: {built_service_names()}"
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
