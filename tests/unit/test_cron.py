"""The cron entry installs, shows and removes cleanly, leaving other entries alone."""

import pytest

from gwops import schedule
from gwops.project import Project

pytestmark = pytest.mark.unit


def test_install_show_remove(tmp_path, monkeypatch):
    tab = tmp_path / "crontab"
    tab.write_text("# operator's own entry\n5 * * * * /usr/bin/true\n")
    monkeypatch.setenv(schedule.ENV_CRONTAB_FILE, str(tab))
    project = Project(tmp_path / "proj")
    assert schedule.show(project, "gw") is None
    line = schedule.install(project, "gw", "17 3 * * *")
    assert line.startswith("17 3 * * * ") and "bin/ops backup" in line and "PATH=" in line
    schedule.install(project, "gw", "0 4 * * *")  # idempotent: replaces, never duplicates
    assert tab.read_text().count("gwops-backup:gw") == 1 and schedule.show(project, "gw").startswith("0 4 * * *")
    assert schedule.remove(project, "gw") == 1
    assert schedule.show(project, "gw") is None
    assert "5 * * * * /usr/bin/true" in tab.read_text()


def test_the_probe_has_its_own_entry(tmp_path, monkeypatch):
    tab = tmp_path / "crontab"
    monkeypatch.setenv(schedule.ENV_CRONTAB_FILE, str(tab))
    project = Project(tmp_path / "proj")
    schedule.install(project, "gw", "17 3 * * *")
    line = schedule.install(project, "gw", "*/30 * * * *", "probe")
    assert line.startswith("*/30 * * * * ") and "bin/ops probe >>" in line and "probe-cron.log" in line
    assert schedule.show(project, "gw").startswith("17 3 * * *")  # the backup entry is its own
    assert schedule.remove(project, "gw", "probe") == 1 and schedule.show(project, "gw") is not None
