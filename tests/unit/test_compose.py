"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The compose file is validated against the Compose specification's JSON schema (vendored in tests/schemas/),
then every name it relies on is checked: images pinned, build contexts and Dockerfile targets present,
bind-mounted files present, ports well formed, the consumer scalable.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from originfarm.hosts import HOSTS

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "tests" / "schemas" / "compose-spec.json"
SCHEMA_SHA256 = "e82b395a9ac423febdba22c159b85d51d972706aea67d64799672a6ae3e56f47"
# [ip:][host:]container[/proto], each port possibly a range; ip may be IPv4 or [IPv6].
PORT_RE = re.compile(
    r"^(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?"
    r"(?:(?P<host>\d+(?:-\d+)?):)?(?P<container>\d+(?:-\d+)?)(?:/(?:tcp|udp))?$"
)


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = load_compose()["services"]
    return result


def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft201909Validator(schema)


def test_vendored_schema_is_unmodified() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_compose_file_validates_against_the_compose_spec() -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(load_compose())]
    assert errors == []


def test_schema_rejects_what_compose_would_reject() -> None:
    """The validation above can fail: an unknown key or a wrong type is an error."""
    broken = load_compose()
    broken["services"]["consumer"]["replicas_typo"] = 3
    broken["services"]["kafka"]["healthcheck"]["retries"] = "many"
    assert len(list(validator().iter_errors(broken))) >= 2


def test_every_pulled_image_has_a_pinned_version_tag() -> None:
    for name, svc in services().items():
        image = svc.get("image", "")
        assert image or "build" in svc, f"{name}: neither image nor build"
        if "build" in svc:
            continue  # built locally; the tag only names the result
        repo, _, tag = image.rpartition(":")
        assert repo and re.search(r"\d", tag) and tag != "latest", f"{name}: {image!r} is not pinned"


def test_kafka_image_is_the_version_of_kafka_local() -> None:
    script = (REPO / "scripts" / "kafka-local").read_text()
    version = re.search(r'^DEFAULT_VERSION = "([^"]+)"', script, re.M)
    assert version is not None
    assert services()["kafka"]["image"] == f"apache/kafka:{version.group(1)}"


def dockerfile_stages(path: Path) -> list[str]:
    return re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", path.read_text(), re.M | re.I)


def test_build_contexts_dockerfiles_and_targets_exist() -> None:
    built = {name: svc["build"] for name, svc in services().items() if "build" in svc}
    assert {"consumer", "topics", "seed"} <= built.keys()
    for name, build in built.items():
        context = REPO / build["context"]
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert context.is_dir() and dockerfile.is_file(), name
        if "target" in build:
            assert build["target"] in dockerfile_stages(dockerfile), name


def bind_sources(svc: dict[str, Any]) -> list[str]:
    """Host paths of a service's bind mounts (short syntax source starting with . or /, or type: bind)."""
    sources = []
    for vol in svc.get("volumes", []):
        source = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
        if source.startswith((".", "/")):
            sources.append(source)
    return sources


def test_every_bind_mounted_file_exists_and_named_volumes_are_declared() -> None:
    declared = set(load_compose().get("volumes") or {})
    for name, svc in services().items():
        for source in bind_sources(svc):
            assert (REPO / source).exists(), f"{name}: {source} does not exist"
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
            if source and not source.startswith((".", "/")):
                assert source in declared, f"{name}: named volume {source} not declared"


def test_ports_are_well_formed_and_published_on_loopback_only() -> None:
    for name, svc in services().items():
        for port in svc.get("ports", []):
            match = PORT_RE.match(str(port))
            assert match, f"{name}: bad port {port!r}"
            if match["host"]:
                assert match["ip"] == "127.0.0.1", f"{name}: {port} would listen on every interface"
        for port in svc.get("expose", []):
            assert re.fullmatch(r"\d+(?:-\d+)?(?:/(?:tcp|udp))?", str(port)), f"{name}: bad expose {port!r}"


def test_host_ports_do_not_collide() -> None:
    published = [
        m["host"] for svc in services().values() for p in svc.get("ports", []) if (m := PORT_RE.match(str(p)))
    ]
    published = [p for p in published if p]
    assert len(published) == len(set(published))


def test_consumer_is_scalable_and_scraped_on_its_metrics_port() -> None:
    consumer = services()["consumer"]
    assert "container_name" not in consumer
    assert "ports" not in consumer  # a fixed host port would make a second replica fail to start
    assert consumer["environment"]["DOCFETCH_ALLOW_PRIVATE_HOSTS"] == "true"
    command = consumer["command"]
    port = command[command.index("--metrics-port") + 1]
    assert port in consumer["expose"]
    assert port in " ".join(consumer["healthcheck"]["test"])
    prometheus = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "docfetch-consumer")
    assert job["dns_sd_configs"] == [
        {"names": ["consumer"], "type": "A", "port": int(port), "refresh_interval": "5s"}
    ]


def test_depends_on_conditions_match_the_dependencies() -> None:
    """service_healthy needs a healthcheck; service_completed_successfully needs a one-shot service."""
    all_services = services()
    for name, svc in all_services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            target = all_services[dep]
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in target, f"{name} waits for {dep}'s health, which has no healthcheck"
            elif spec["condition"] == "service_completed_successfully":
                assert target.get("restart", "no") == "no", f"{name} waits for {dep} to exit"
            else:
                pytest.fail(f"{name}: unexpected condition {spec['condition']}")


def dockerfile_copy_sources(text: str) -> list[str]:
    sources = []
    for line in text.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources.extend(line.split()[1:-1])
    return sources


def test_dockerfile_builds_a_non_root_consumer_from_the_lock_file() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim AS base$", text, re.M)
    assert "-c requirements.lock" in text and "pip install --no-deps ." in text
    assert dockerfile_stages(REPO / "Dockerfile")[-1] == "consumer"  # the default target
    consumer_stage = text.split("AS consumer", 1)[1]
    assert re.search(r"^USER docfetch$", consumer_stage, re.M)
    assert 'ENTRYPOINT ["docfetch-consumer"]' in consumer_stage


def test_dockerfile_copies_only_files_that_exist_and_are_not_dockerignored() -> None:
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for source in dockerfile_copy_sources((REPO / "Dockerfile").read_text()):
        assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"
        assert source.split("/")[0] not in ignored, f"{source} is excluded by .dockerignore"


def test_demo_stage_runs_the_origin_farm_where_the_sample_points() -> None:
    """Every loopback URL of the bundled sample names a farm host on the port the consumer's farm serves,
    and the consumer's DOI resolver and Wayback endpoint are the farm's."""
    text = (REPO / "Dockerfile").read_text()
    demo_stage = text.split("AS demo", 1)[1].split("FROM ", 1)[0]
    assert "COPY originfarm" in demo_stage and "COPY deploy/sample" in demo_stage
    script = REPO / "deploy/docker/consumer-with-farm.sh"
    assert os.access(script, os.X_OK) and "python -m originfarm serve" in script.read_text()
    consumer = services()["consumer"]
    assert consumer["build"]["target"] == "demo"
    env = consumer["environment"]
    port = env["ORIGIN_FARM_PORT"]
    urls = set(
        re.findall(r"http://(127\.0\.0\.\d+):(\d+)/", (REPO / "deploy/sample/works.jsonl").read_text())
    )
    assert urls and {p for _, p in urls} == {port}
    assert {a for a, _ in urls} <= set(HOSTS.values())
    assert env["DOCFETCH_DOI_RESOLVER"] == f"http://{HOSTS['doi']}:{port}/"
    assert env["DOCFETCH_WAYBACK_AVAILABILITY_URL"].startswith(f"http://{HOSTS['archive']}:{port}/")
    assert f"('{HOSTS['pdfs']}', {port})" in " ".join(consumer["healthcheck"]["test"])
