"""The proxy's runtime API client: an empty answer (seen under load, exit 0) is read again, never
taken as "no slot" or "switched"."""

from __future__ import annotations

import pytest

from gwops.errors import OpsError
from gwops.proxy import Proxy

pytestmark = pytest.mark.unit

STAT = (
    "# pxname,svname,scur,econ,status,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx\n"
    "slot_blue,gw1,1,,UP,0,10,0,0,1,\n"
    "slot_blue,BACKEND,1,0,UP,0,10,0,0,1\n"
    "slot_green,gw1,0,,MAINT,0,0,0,0,0\n"
    "slot_green,BACKEND,0,0,DOWN,0,0,0,0,0\n\n"
)


class Docker:
    """Answers the runtime API's commands from a script; `set map` changes the map."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers, self.calls, self.active = answers, [], "blue"

    def exec(self, service, cmd, env=None):
        command = env["GWOPS_CMD"]
        self.calls.append(command)
        queue = self.answers.get(command.split(" ")[0] + " " + command.split(" ")[1], [])
        if queue:
            return 0, queue.pop(0)
        if command.startswith("set map"):
            self.active = command.split()[-1].removeprefix("slot_")
            return 0, ""
        if command.startswith("show map"):
            return 0, f"0x1 active slot_{self.active}\n\n"
        return 0, STAT


def test_an_empty_stat_answer_is_read_again():
    d = Docker({"show stat": ["", "# pxname,svname\nslot_blue,gw1"]})  # empty, then cut short
    stats = Proxy(d).stats()
    assert d.calls.count("show stat") == 3
    assert stats["blue"].up == 1 and stats["blue"].errors == 1 and stats["green"].up == 0


def test_a_proxy_that_never_answers_is_an_error_not_an_empty_backend(monkeypatch):
    monkeypatch.setattr("gwops.proxy.READ_TIMEOUT", 0.3)
    d = Docker({"show stat": [""] * 1000})
    with pytest.raises(OpsError, match="no complete answer to `show stat`"):
        Proxy(d).stats()


def test_a_switch_whose_answer_was_lost_is_sent_again():
    d = Docker({"set map": [""]})  # the first `set map` is lost: empty answer, map unchanged
    Proxy(d).switch("green")
    assert d.active == "green" and d.calls.count("set map /usr/local/etc/haproxy/slot.map active slot_green") == 2
