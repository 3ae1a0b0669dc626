"""docker-compose.yml and deploy/Dockerfile, checked without a Docker engine.

Structure and references: dependencies wait on real health, mounted files exist, the worker
scales, settings are real ``Settings`` fields, images are pinned, alerts flow from the
`notify` service and Prometheus to the `alertmanager` service, and only Grafana, Prometheus
and Alertmanager are published, on loopback.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from cxpulse.commands.cli import build_parser
from cxpulse.config.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PUBLISHED = {
    "grafana": ("127.0.0.1", 3000, 3000),
    "prometheus": ("127.0.0.1", 9090, 9090),
    "alertmanager": ("127.0.0.1", 9093, 9093),
    "gateway": ("127.0.0.1", 6068, 6068),
}
SHARED_SETTINGS = re.compile(r"CXPULSE_(KAFKA_BOOTSTRAP|APP_ID|PARTITIONS|\w+_TOPIC)")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


SERVICES: dict[str, dict[str, Any]] = compose()["services"]
CXPULSE_SERVICES = sorted(name for name, svc in SERVICES.items() if "build" in svc)


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, arguments = line.strip().partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def dockerfile_values(instruction: str) -> list[str]:
    return [args for name, args in dockerfile_instructions(DOCKERFILE) if name == instruction]


def dockerfile_env() -> dict[str, str]:
    pairs = (item.partition("=") for args in dockerfile_values("ENV") for item in shlex.split(args))
    return {key: value for key, _, value in pairs}


def has_healthcheck(service: dict[str, Any]) -> bool:
    """A compose healthcheck, or the HEALTHCHECK of the Dockerfile the service is built from."""
    check = service.get("healthcheck")
    if check is not None:
        return not check.get("disable", False) and bool(check.get("test"))
    if "build" not in service:
        return False
    dockerfile = REPO / service["build"]["context"] / service["build"]["dockerfile"]
    checks = [args for name, args in dockerfile_instructions(dockerfile) if name == "HEALTHCHECK"]
    return bool(checks) and checks[-1] != "NONE"


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, container path) of each volume entry in short syntax."""
    pairs = (str(entry).split(":") for entry in service.get("volumes", []))
    return [(source, target) for source, target, *_ in pairs]


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """The repository file a container path of the service reads, through its bind mounts."""
    wanted = PurePosixPath(container_path)
    for source, target in mounts(service):
        if source.startswith(".") and wanted.is_relative_to(target):
            return REPO / source / wanted.relative_to(target)
    raise AssertionError(f"{container_path} is not bind-mounted from the repository")


def flag(command: list[str], name: str) -> str:
    values = [arg.partition("=")[2] for arg in command if arg.startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name} given {len(values)} times"
    return values[0]


#: Compose's ``${NAME:-default}``: the default when the host does not set NAME.
HOST_VARIABLE = re.compile(r"\$\{\w+:-([^}]*)\}")


def cxpulse_env(service: str) -> dict[str, str]:
    """The service's ``CXPULSE_*`` variables as on a host that sets none of its own."""
    env = SERVICES[service].get("environment", {})
    return {
        key: HOST_VARIABLE.sub(lambda found: found.group(1), str(value))
        for key, value in env.items()
        if key.startswith(ENV_PREFIX)
    }


def as_settings(env: dict[str, str]) -> Settings:
    """Validate ``CXPULSE_*`` variables as the worker would, refusing unknown names."""
    fields = {key.removeprefix(ENV_PREFIX).lower(): value for key, value in env.items()}
    unknown = sorted(set(fields) - set(Settings.model_fields))
    assert not unknown, f"not Settings fields: {unknown}"
    return Settings.model_validate(fields)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        include = pattern.startswith("!")
        cleaned = pattern.removeprefix("!").strip("/")
        if any(fnmatch.fnmatchcase(candidate, cleaned) for candidate in candidates):
            excluded = not include
    return excluded


def test_dependencies_wait_for_health_or_completion() -> None:
    for name, service in SERVICES.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert has_healthcheck(SERVICES[target]), f"{target} has no healthcheck"
            else:
                assert condition == "service_completed_successfully", f"{name} -> {target}"
                assert SERVICES[target]["restart"] == "no", f"{target} is not a one-shot"


def test_long_running_services_have_healthchecks() -> None:
    for name, service in SERVICES.items():
        if service.get("restart") != "no":
            assert has_healthcheck(service), name


def test_mounted_host_paths_exist_and_volumes_are_declared() -> None:
    declared = set(compose().get("volumes", {}))
    for name, service in SERVICES.items():
        for source, _target in mounts(service):
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} not declared"


def test_worker_can_be_scaled() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "volumes" not in worker, "replicas must not share a data directory"
    port = cxpulse_env("worker")["CXPULSE_WEB_PORT"]
    assert cxpulse_env("worker")["CXPULSE_WEB_HOST"] == "0.0.0.0"
    assert port in worker["expose"]


def test_only_grafana_prometheus_alertmanager_and_the_gateway_are_published_on_loopback() -> None:
    published = {}
    for name, service in SERVICES.items():
        for entry in service.get("ports", []):
            host_ip, host_port, container_port = str(entry).split(":")
            published[name] = (host_ip, int(host_port), int(container_port))
    assert published == PUBLISHED


def test_images_are_pinned() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for name, service in SERVICES.items():
        image, _, tag = service["image"].rpartition(":")
        assert image, name
        assert re.search(r"\d", tag), f"{name}: {service['image']} is not pinned"
        assert tag != "latest", name
        if "build" in service:
            assert service["image"] == f"cxpulse:{version}", name


@pytest.mark.parametrize("service", CXPULSE_SERVICES)
def test_cxpulse_environment_is_valid_settings(service: str) -> None:
    env = cxpulse_env(service)
    assert env, f"{service} sets no CXPULSE_* variable"
    as_settings(env)


def test_cxpulse_services_agree_on_broker_and_topics() -> None:
    shared = [
        {key: value for key, value in cxpulse_env(name).items() if SHARED_SETTINGS.fullmatch(key)}
        for name in CXPULSE_SERVICES
    ]
    assert shared[0]
    assert all(settings == shared[0] for settings in shared)


def test_bootstrap_is_the_advertised_kafka_listener() -> None:
    bootstrap = cxpulse_env("worker")["CXPULSE_KAFKA_BOOTSTRAP"]
    host = bootstrap.partition(":")[0]
    assert host in SERVICES
    advertised = SERVICES[host]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"PLAINTEXT://{bootstrap}" in advertised.split(",")


@pytest.mark.parametrize("service", CXPULSE_SERVICES)
def test_cxpulse_commands_parse(service: str) -> None:
    program, *arguments = SERVICES[service]["command"]
    assert program == "cxpulse"
    assert build_parser().parse_args(arguments).command == arguments[0]


def test_prometheus_reads_the_compose_config_and_scrapes_the_worker_and_gateway_ports() -> None:
    prometheus = SERVICES["prometheus"]
    config_path = host_path(prometheus, flag(prometheus["command"], "config.file"))
    assert config_path == REPO / "deploy" / "prometheus" / "prometheus.compose.yml"
    config = yaml.safe_load(config_path.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"cxpulse-worker", "cxpulse-gateway"}
    (gateway,) = jobs["cxpulse-gateway"]["static_configs"][0]["targets"]
    host, _, port = gateway.partition(":")
    assert port == cxpulse_env(host)["CXPULSE_API_PORT"]
    for dns in jobs["cxpulse-worker"]["dns_sd_configs"]:
        for service in dns["names"]:
            assert str(dns["port"]) in SERVICES[service]["expose"]
            assert str(dns["port"]) == cxpulse_env(service)["CXPULSE_WEB_PORT"]
    listen_port = flag(prometheus["command"], "web.listen-address").rpartition(":")[2]
    assert int(listen_port) == PUBLISHED["prometheus"][2]


def test_alertmanager_reads_the_shipped_config_and_listens_on_its_published_port() -> None:
    alertmanager = SERVICES["alertmanager"]
    command = alertmanager["command"]
    config_path = host_path(alertmanager, flag(command, "config.file"))
    assert config_path == REPO / "deploy" / "alertmanager" / "alertmanager.yml"
    listen_port = flag(command, "web.listen-address").rpartition(":")[2]
    assert int(listen_port) == PUBLISHED["alertmanager"][2]
    assert flag(command, "cluster.listen-address") == "", "one instance: no cluster"
    storage = flag(command, "storage.path")
    assert any(
        target == storage and not source.startswith(".") for source, target in mounts(alertmanager)
    ), "silences and the notification log must outlive the container"


def test_notify_posts_to_the_alertmanager_service_and_waits_for_it() -> None:
    notify = SERVICES["notify"]
    assert notify["command"] == ["cxpulse", "notify"]
    settings = as_settings(cxpulse_env("notify"))
    (url,) = settings.alertmanager_urls()
    parts = urlsplit(url)
    assert parts.hostname == "alertmanager"
    listen_port = flag(SERVICES["alertmanager"]["command"], "web.listen-address").rpartition(":")[2]
    assert parts.port == int(listen_port)
    assert notify["depends_on"]["alertmanager"]["condition"] == "service_healthy"
    assert settings.notify_web_host == "0.0.0.0"
    assert str(settings.notify_web_port) in notify["expose"]
    assert f"127.0.0.1:{settings.notify_web_port}/healthz" in " ".join(
        notify["healthcheck"]["test"]
    )
    assert urlsplit(settings.grafana_url).port == PUBLISHED["grafana"][1]


def test_prometheus_sends_its_alerts_to_the_alertmanager_service() -> None:
    prometheus = SERVICES["prometheus"]
    config = yaml.safe_load(
        host_path(prometheus, flag(prometheus["command"], "config.file")).read_text()
    )
    targets = [
        target
        for manager in config["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    listen_port = flag(SERVICES["alertmanager"]["command"], "web.listen-address").rpartition(":")[2]
    assert targets == [f"alertmanager:{listen_port}"]


def test_grafana_provisioning_points_at_compose_files() -> None:
    grafana = SERVICES["grafana"]
    provisioning = host_path(grafana, "/etc/grafana/provisioning")
    assert provisioning == REPO / "deploy" / "grafana" / "provisioning"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "cxpulse.yml").read_text())[
        "providers"
    ]
    dashboards = host_path(grafana, provider["options"]["path"])
    assert sorted(dashboards.glob("*.json"))
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert json.loads(host_path(grafana, home).read_text())["uid"]
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    url = urlsplit(datasource["url"])
    assert url.hostname in SERVICES
    assert url.port == PUBLISHED["prometheus"][2]


def test_dockerfile_base_is_a_pinned_slim_python_311() -> None:
    args = dict(arg.partition("=")[::2] for arg in dockerfile_values("ARG"))
    bases = {shlex.split(line)[0] for line in dockerfile_values("FROM")}
    images = {re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base) for base in bases}
    assert images
    for image in images:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", image), image


def test_image_runs_the_worker_as_non_root() -> None:
    user = dockerfile_values("USER")[-1].partition(":")[0]
    assert user not in {"root", "0"}
    assert json.loads(dockerfile_values("CMD")[-1]) == ["cxpulse", "worker"]


def test_image_serves_and_checks_the_web_port() -> None:
    env = dockerfile_env()
    configured = as_settings({key: v for key, v in env.items() if key.startswith(ENV_PREFIX)})
    assert configured.web_host == "0.0.0.0"
    assert dockerfile_values("EXPOSE") == [str(configured.web_port)]
    (healthcheck,) = dockerfile_values("HEALTHCHECK")
    assert "/healthz" in healthcheck
    assert "CXPULSE_WEB_PORT" in healthcheck


def test_build_context_ships_every_copied_source() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [shlex.split(args) for args in dockerfile_values("COPY")]
    sources = [src for parts in copies if not parts[0].startswith("--") for src in parts[:-1]]
    assert sources
    for source in sources:
        path = REPO / source
        assert path.exists(), f"COPY {source}: missing"
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        assert files
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            assert not dockerignored(relative, patterns), f"{relative} is .dockerignored"
    assert dockerignored(".venv/bin/python", patterns)
    assert dockerignored("tests/unit/__init__.py", patterns)
