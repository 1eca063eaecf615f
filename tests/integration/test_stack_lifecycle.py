"""The real local stack (session fixture): readiness, idempotent `up`, status JSON,
partial `up`, pause/resume, and an etcd member killed and restarted rejoining."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from chaosctl.stack import configs

pytestmark = pytest.mark.integration


def _cli(stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CHAOSCTL_PORT_BASE=str(stack.settings.port_base),
               CHAOSCTL_STATE_DIR=str(stack.settings.state_dir))
    return subprocess.run([sys.executable, "-m", "chaosctl.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def _pids(stack) -> dict[str, int | None]:
    return {c.name: c.pid for c in stack.backend.status().components}


def test_up_brings_every_component_to_ready(stack):
    status = stack.backend.status()
    assert [c.name for c in status.components] == list(stack.topology.components)
    assert status.all_ready, [c for c in status.components if c.state != "ready"]
    assert all(c.pid for c in status.components)


def test_prometheus_sees_every_stack_target_up(stack):
    resp = httpx.get(f"{stack.topology.url('prometheus')}/api/v1/targets", timeout=5)
    health = {t["labels"]["job"]: t["health"] for t in resp.json()["data"]["activeTargets"]}
    stack_jobs = set(configs.scrape_targets(stack.topology))
    assert {job: h for job, h in health.items() if job in stack_jobs} == dict.fromkeys(stack_jobs, "up")
    assert "chaosctl-run" in health  # scraped; down while no run is active


def test_toxiproxy_carries_one_proxy_per_link(stack):
    proxies = httpx.get(f"{stack.topology.url('toxiproxy')}/proxies", timeout=5).json()
    for link in stack.topology.links:
        proxy = proxies[link.proxy_name]
        assert proxy["enabled"] and proxy["upstream"] == f"127.0.0.1:{link.upstream_port}"
    # a real TCP path through a proxy: the gateway's link to the registry
    via = stack.topology.via_proxy("gateway", "registry")
    assert httpx.get(f"{via}/healthz", timeout=5).status_code == 200


def test_jaeger_answers_its_query_api(stack):
    resp = httpx.get(f"{stack.topology.url('jaeger')}/api/v3/services", timeout=5)
    assert resp.status_code == 200


def test_second_up_changes_nothing_and_says_so(stack):
    before = _pids(stack)
    result = _cli(stack, "up")
    assert result.returncode == 0, result.stderr
    assert "already up" in result.stderr
    assert _pids(stack) == before


def test_status_json_follows_the_design_shape(stack):
    result = _cli(stack, "status", "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["backend"] == "local"
    assert {tuple(sorted(c)) for c in body["components"]} == {("name", "pid", "state", "url")}
    assert body["endpoints"]["gateway"] == stack.topology.url("gateway")


def test_partial_up_starts_only_the_missing_component(stack):
    before = _pids(stack)
    stack.backend.kill("jaeger")
    assert not stack.backend.is_running("jaeger")
    stack.backend.up()
    after = _pids(stack)
    assert after["jaeger"] not in (None, before["jaeger"])
    assert {k: v for k, v in after.items() if k != "jaeger"} == {k: v for k, v in before.items() if k != "jaeger"}
    assert stack.backend.status().all_ready


def test_pause_and_resume_a_component(stack):
    stack.backend.pause("toxiproxy")
    try:
        assert stack.backend.is_paused("toxiproxy")
        assert stack.backend.status().component("toxiproxy").state == "paused"
    finally:
        stack.backend.resume("toxiproxy")
    assert not stack.backend.is_paused("toxiproxy")
    stack.backend.start("toxiproxy")  # already running: waits until ready, no restart
    assert stack.backend.status().component("toxiproxy").state == "ready"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _etcd(stack, member: int, path: str, body: dict, until=lambda answer: True) -> dict:
    """POST to etcd's v3 JSON gateway, retried for a while as a client would: a write right
    after the leader died waits for the election; a restarted member catches up."""
    url = f"http://127.0.0.1:{stack.topology.etcd_client_port(member)}/v3/{path}"
    deadline = time.monotonic() + 20
    while True:
        try:
            resp = httpx.post(url, json=body, timeout=3)
            resp.raise_for_status()
            if until(resp.json()):
                return resp.json()
            problem = f"condition not met: {resp.text[:200]}"
        except httpx.HTTPError as exc:
            problem = repr(exc)
        if time.monotonic() > deadline:
            raise AssertionError(f"{url}: {problem}")
        time.sleep(0.5)


def test_killed_etcd_member_restarts_and_rejoins_the_cluster(stack):
    member = "registry-store[0]"
    old_pid = stack.backend.pid(member)
    cluster_id = _etcd(stack, 1, "cluster/member/list", {})["header"]["cluster_id"]
    stack.backend.kill(member)
    try:
        assert not stack.backend.is_running(member) and stack.backend.pid(member) is None
        # the cluster keeps quorum with 2 of 3 and accepts a write meanwhile
        _etcd(stack, 1, "kv/put", {"key": _b64("chaosctl-test/rejoin"), "value": _b64("written-while-down")})
    finally:
        stack.backend.start(member)
    assert stack.backend.pid(member) not in (None, old_pid)
    # a serializable read is answered from member 0's own copy: it caught up with the cluster
    got = _etcd(stack, 0, "kv/range", {"key": _b64("chaosctl-test/rejoin"), "serializable": True},
                until=lambda answer: bool(answer.get("kvs")))
    assert base64.b64decode(got["kvs"][0]["value"]).decode() == "written-while-down"
    members = _etcd(stack, 0, "cluster/member/list", {})
    assert members["header"]["cluster_id"] == cluster_id and len(members["members"]) == 3
    _etcd(stack, 1, "kv/deleterange", {"key": _b64("chaosctl-test/rejoin")})


def test_up_recreates_a_deleted_proxy_and_keeps_the_others(stack):
    toxi = stack.topology.url("toxiproxy")
    gone, kept = stack.topology.link_to("gateway", "model-cpu-1"), stack.topology.link_to("gateway", "registry")
    toxic = {"name": "probe-latency", "type": "latency", "attributes": {"latency": 1}}
    httpx.post(f"{toxi}/proxies/{kept.proxy_name}/toxics", json=toxic, timeout=5).raise_for_status()
    try:
        httpx.delete(f"{toxi}/proxies/{gone.proxy_name}", timeout=5).raise_for_status()
        before = _pids(stack)
        stack.backend.up()
        assert _pids(stack) == before
        proxies = httpx.get(f"{toxi}/proxies", timeout=5).json()
        assert gone.proxy_name in proxies
        assert [t["name"] for t in proxies[kept.proxy_name]["toxics"]] == ["probe-latency"]
    finally:
        httpx.delete(f"{toxi}/proxies/{kept.proxy_name}/toxics/probe-latency", timeout=5)
