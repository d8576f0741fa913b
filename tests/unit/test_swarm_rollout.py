"""How `swarm deploy` reads a rollout (gwops.swarm.deploy.SwarmStack.wait), against scripted
service states: done only when every changed service completed, a rollback or pause named."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gwops.errors import RolledBack, RolloutError
from gwops.settings import StackSettings
from gwops.swarm.deploy import SwarmStack

pytestmark = pytest.mark.unit

VERSION = "aaa111"


def service(name: str, state: str = "", running: int = 1, replicas: int = 1, version: str = VERSION):
    configs = [{"ConfigName": f"gw_litellm_{version}"}] if name == "gateway" else []
    tasks = [{"Status": {"State": "running"}, "Spec": {"ContainerSpec": {"Configs": configs}}}] * running
    attrs = {
        "Spec": {
            "Mode": {"Replicated": {"Replicas": replicas}},
            "Labels": {},
            "TaskTemplate": {"ContainerSpec": {"Image": "x"}},
        },
        "UpdateStatus": {"State": state, "Message": f"{name} {state}"} if state else None,
    }
    return SimpleNamespace(name=f"gw_{name}", attrs=attrs, tasks_=tasks)


class FakeDocker:
    def __init__(self, script: list[dict[str, SimpleNamespace]]):
        self.script, self.calls = script, 0

    def stack_services(self):
        now = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return now

    def service_tasks(self, svc, **_):
        return svc.tasks_


def swarm(script) -> SwarmStack:
    s = SwarmStack.__new__(SwarmStack)
    s.name, s.settings, s.say = "gw", StackSettings(), lambda m: None
    s.docker = FakeDocker(script)
    return s


def steady(**states: str) -> dict[str, SimpleNamespace]:
    return {n: service(n, states.get(n, "")) for n in ("postgres", "redis", "gateway", "proxy")}


def test_done_when_each_changed_service_has_completed():
    s = swarm([steady(gateway="updating"), steady(gateway="updating"), steady(gateway="completed")])
    s.wait({"gateway"}, VERSION)
    assert s.docker.calls == 3


def test_an_unchanged_service_with_an_old_rollback_state_is_not_a_failure():
    s = swarm([steady(gateway="rollback_completed")])
    s.wait(set(), VERSION)


def test_a_rolled_back_proxy_is_named():
    s = swarm([steady(proxy="rollback_started"), steady(proxy="rollback_completed")])
    with pytest.raises(RolledBack) as info:
        s.wait({"proxy"}, VERSION)
    assert "`proxy`" in info.value.message and info.value.exit_code == 4


def test_a_failed_rollback_is_not_reported_as_serving():
    s = swarm([steady(gateway="rollback_started"), steady(gateway="rollback_paused")])
    with pytest.raises(RolloutError) as info:
        s.wait({"gateway"}, VERSION)
    assert not isinstance(info.value, RolledBack) and "rollback" in info.value.message
    assert "docker service rollback gw_gateway" in info.value.hint


def test_a_paused_update_is_an_error_naming_the_service():
    s = swarm([steady(postgres="paused")])
    with pytest.raises(RolloutError) as info:
        s.wait({"postgres"}, VERSION)
    assert "`postgres`" in info.value.message and "paused" in info.value.message
