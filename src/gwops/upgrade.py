"""`bin/ops upgrade`: the gateway to another LiteLLM release, under load, with its migrations and a
way back.

plan (running, pinned and target versions; the image; the lock's changes; the migrations the
database lacks and whether the running version can serve after them) -> the target's image
(present, pulled, or built offline from its lock at a low CPU weight) -> a verified backup -> the
migrations, as their own gated step -> the new version in the idle slot, checked on every route,
then the switch (gwops.reload: zero failed requests, watched, switched back on trouble) -> its pin
written into config/stack.yaml, comments kept.

A failure at any step leaves the old version serving. After migrations that an older version
cannot run on (gwops.migrations.breaking), the backup is restored before the step's error is
raised; LiteLLM's migrations are meant to be additive, and then the old version simply serves on.
`--rollback` returns to the version before the last upgrade the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gwops import envfile, migrations, slots
from gwops.components import gateway, wheels
from gwops.components.postgres import SERVICE as POSTGRES
from gwops.components.postgres import client_env
from gwops.config import store
from gwops.errors import MigrationError, OpsError, ReloadError, UsageError
from gwops.fsutil import atomic_write
from gwops.images import Images
from gwops.pins import gateway_pin
from gwops.settings import StackSettings

if TYPE_CHECKING:
    from gwops.components.base import ImageChoice
    from gwops.stack import Stack

NOTES_URL = "https://github.com/BerriAI/litellm/releases/tag/v{version}"
HISTORY = "upgrades.json"  # under state/: every upgrade and rollback, newest last


class UpgradeError(OpsError):
    """A step of an upgrade failed: the old version serves (exit 4)."""

    exit_code = 4

    def __init__(self, step: str, target: str, message: str, hint: str, details: str | None = None):
        self.step = step
        super().__init__(f"upgrade to LiteLLM {target} failed at step `{step}`: {message}", hint=hint, details=details)


@dataclass
class UpgradePlan:
    running: str | None  # what the serving slot runs (None: no gateway runs)
    pinned: str  # images.litellm_version in config/stack.yaml
    target: str
    image: str
    image_how: str  # present | pull | build
    lock: str | None  # the lock the local image installs (relative path)
    lock_changes: list[str]
    pending: list[str] | None  # the migrations the database lacks (None: no database, or not known yet)
    breaking: dict[str, list[str]]  # a migration -> statements the older version may not run after
    downgrade: bool
    notes_url: str

    @property
    def old_runs_after(self) -> bool:
        """Whether the older of the two versions serves on the schema the newer one needs."""
        return not self.breaking


@dataclass
class UpgradeReport:
    plan: UpgradePlan
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds
    backup: str | None = None
    applied: list[str] = field(default_factory=list)
    config_version: str = ""
    slot: str = ""
    degraded: dict[str, str] = field(default_factory=dict)


def target_settings(settings: StackSettings, version: str) -> StackSettings:
    """`settings` with the gateway on LiteLLM `version` (its images follow the version)."""
    images = settings.images.model_dump(exclude={"gateway"})
    return settings.model_copy(update={"images": type(settings.images)(**{**images, "litellm_version": version})})


def _version(text: str, what: str) -> tuple[int, ...]:
    """A LiteLLM release number (`1.108.7`, `1.77.2.post1`) as a sortable tuple."""
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(?:\.post(\d+))?", text)
    if not m:
        raise UsageError(f"{what} `{text}` is not a release number", hint="e.g. `--to 1.108.7`")
    return tuple(int(g or 0) for g in m.groups())


def running_version(stack: Stack) -> str | None:
    st = slots.load(stack.project)
    found = stack.docker.replicas(gateway.service(st.active))
    return next((v for c in found if c.status == "running" and (v := gateway.running_version(c))), None)


def history(stack: Stack) -> list[dict[str, Any]]:
    path = stack.project.state_dir / HISTORY
    try:
        return list(json.loads(path.read_text()))
    except (OSError, ValueError):
        return []


class Upgrader:
    def __init__(self, stack: Stack):
        self.stack = stack
        self.say = stack.say
        self.plan_seconds = 0.0

    # -- the plan ------------------------------------------------------------------------------------
    def plan(self, to: str | None, downgrade: bool = False, rollback: bool = False) -> UpgradePlan:
        t0 = time.monotonic()
        plan = self._plan(to, downgrade, rollback)
        self.plan_seconds = time.monotonic() - t0
        return plan

    def _plan(self, to: str | None, downgrade: bool, rollback: bool) -> UpgradePlan:
        settings = self.stack.settings
        running = running_version(self.stack)
        if rollback:
            past = [h for h in history(self.stack) if h.get("to") == running]
            if not past:
                raise UsageError(
                    f"no upgrade to the running version ({running or 'none'}) is recorded: nothing to roll back",
                    hint="`bin/ops upgrade --to VERSION --downgrade` goes to an older release explicitly",
                )
            to, downgrade = past[-1]["from"], True
        target = to or settings.images.litellm_version
        _version(target, "the target")
        if target in settings.gateway.refuse_versions:
            raise UsageError(
                f"LiteLLM {target} is refused (`gateway.refuse_versions` in config/stack.yaml)",
                hint="choose another release (`pip index versions litellm` lists them)",
            )
        if running is None:
            raise OpsError(
                "no gateway is serving: `upgrade` moves a serving gateway without failing a request",
                hint=f'to start LiteLLM {target} directly: set `images.litellm_version: "{target}"` in '
                "config/stack.yaml, then `bin/ops up`",
            )
        older = _version(target, "the target") < _version(running, "the running version")
        if older and not downgrade:
            raise UsageError(
                f"LiteLLM {target} is older than the running {running}",
                hint="add `--downgrade` (the schema is checked first), or `--rollback` to undo the last upgrade",
            )
        tsettings = target_settings(settings, target)
        images = Images(self.stack.project, tsettings, self.stack.docker, self.say)
        image, how = self._image_plan(images)
        lock_rel, changes, wheel = None, [], None
        if how == "build" or (how == "present" and image == tsettings.images.gateway.local):
            lock_rel, changes, wheel = self._lock_plan(images, running, target)
        pending, breaking = self._schema_plan(image, how, wheel, older)
        return UpgradePlan(
            running,
            settings.images.litellm_version,
            target,
            image,
            how,
            lock_rel,
            changes,
            pending,
            breaking,
            older,
            NOTES_URL.format(version=target),
        )

    def _image_plan(self, images: Images) -> tuple[str, str]:
        pin = images.settings.images.gateway
        prefer = images.settings.images.prefer
        if prefer != "local" and self.stack.docker.image_exists(pin.official):
            return pin.official, "present"
        if prefer != "official" and images.is_current(gateway.SERVICE):
            return pin.local, "present"
        if prefer == "official":
            return pin.official, "pull"
        return pin.local, "build"

    def _lock_plan(self, images: Images, running: str, target: str) -> tuple[str, list[str], Path | None]:
        """The target's lock (made once: the package index resolves it) and what changed from
        the running version's; the target's `litellm_proxy_extras` wheel (for its migrations)."""
        lock, made_from = gateway.ensure_lock(images, target)
        found = wheels.download_locked(images, "litellm", lock, f"LiteLLM {target}", seed=made_from)
        old = gateway.lock_file(self.stack.project.config_dir, running)
        changes = wheels.lock_changes(wheels.read_lock(old), wheels.read_lock(lock)) if old.exists() else []
        wheel = next(found.glob("litellm_proxy_extras-*.whl"), None)
        return self.stack.project.display(lock), changes, wheel

    def _schema_plan(
        self, image: str, how: str, wheel: Path | None, older: bool
    ) -> tuple[list[str] | None, dict[str, list[str]]]:
        """The migrations the target applies, and those (applied, or to apply) that the older of
        the two versions may not serve after."""
        if not gateway.database_wired(self.stack.settings):
            return None, {}
        cache = self.stack.project.state_dir / "cache"
        if how == "present":
            target = migrations.bundled(self.stack.docker, image, cache)
        elif wheel is not None:
            target = migrations.from_wheel(wheel)
        else:  # an official image still to pull: known once it is here
            return None, {}
        done = migrations.applied(self.stack.docker, POSTGRES, self._pg_env())
        pending = [m for m in target if m.name not in done]
        if older:  # the migrations the running version applied that the target does not know
            current = migrations.bundled(self.stack.docker, self._running_image(), cache)
            names = {m.name for m in target}
            newer = [m for m in current if m.name in done and m.name not in names]
            return [m.name for m in pending], {m.name: b for m in newer if (b := migrations.breaking(m))}
        return [m.name for m in pending], {m.name: b for m in pending if (b := migrations.breaking(m))}

    def _running_image(self) -> str:
        st = slots.load(self.stack.project)
        c = next(iter(self.stack.docker.replicas(gateway.service(st.active))), None)
        if c is None:
            raise OpsError("the serving gateway's image is unknown", hint="`bin/ops status`")
        return c.attrs["Config"]["Image"]

    # -- the run -----------------------------------------------------------------------------------
    def run(self, plan: UpgradePlan) -> UpgradeReport:
        from gwops.reload import Reloader, ReloadPlan
        from gwops.stack import Stack

        if plan.running == plan.target:
            raise UsageError(f"LiteLLM {plan.target} is already serving: nothing to upgrade")
        self._refuse_breaking_downgrade(plan)
        report = UpgradeReport(plan, steps={"plan": round(self.plan_seconds, 2)})
        old_stack = self.stack
        tstack = Stack(old_stack.project, self.say, target_settings(old_stack.settings, plan.target))
        tstack.compose_version = old_stack.compose_version
        old_choices = old_stack.images(build=False)
        st = slots.load(old_stack.project)
        t = time.monotonic()

        def lap(step: str) -> None:
            nonlocal t
            report.steps[step] = round(time.monotonic() - t, 2)
            t = time.monotonic()

        # 1. the image
        try:
            choices = self._target_images(tstack, old_choices)
        except OpsError as exc:
            raise UpgradeError("image", plan.target, exc.message, exc.hint or "", exc.details) from None
        image = gateway.image_of(choices)
        db = gateway.database_wired(old_stack.settings)
        if db and plan.pending is None and image:  # pulled just now: its migrations are known now
            plan.pending, plan.breaking = self._schema_plan(image, "present", None, plan.downgrade)
            self._refuse_breaking_downgrade(plan)
        lap("image")
        # 2. a verified backup
        if db:
            self.say("taking a verified backup first")
            try:
                report.backup = old_stack.backups().backup().manifest.id
            except OpsError as exc:
                raise UpgradeError("backup", plan.target, exc.message, exc.hint or "") from None
            lap("backup")
        # 3. the migrations, a gated step of their own
        if db and not plan.downgrade:
            before = migrations.applied(old_stack.docker, POSTGRES, self._pg_env())
            try:
                gateway.migrate(tstack, image)
            except MigrationError as exc:
                raise UpgradeError(
                    "migrations",
                    plan.target,
                    exc.message,
                    f"LiteLLM {plan.running} keeps serving; nothing of the failed migration was kept. "
                    "Fix the database, then run `bin/ops upgrade` again: it resumes with that migration",
                ) from None
            report.applied = sorted(migrations.applied(old_stack.docker, POSTGRES, self._pg_env()) - before)
            lap("migrations")
        # 4. the new version in the idle slot, checked, then the switch
        env = envfile.read(old_stack.project.env_file)
        compiled = tstack.validate(env)
        version = store.publish_version(old_stack.project, compiled.text)
        self.say(f"starting LiteLLM {plan.target} in slot `{st.idle}` (LiteLLM {plan.running} keeps serving)")
        try:
            switched = Reloader(tstack).switch(ReloadPlan.of(compiled, version), choices, compiled)
        except ReloadError as exc:
            old_stack.render_plan(
                ReloadPlan.from_version(old_stack, st.version).provider_env if st.version else [],
                old_choices,
                slots.load(old_stack.project),
                None,
            )
            step = "switch" if "switched back" in exc.message else "start"
            restored = self._undo_schema(plan, report) if report.applied else ""
            raise UpgradeError(
                step,
                plan.target,
                exc.message,
                f"LiteLLM {plan.running} is serving{restored}; `bin/ops logs gateway` has the new version's last lines",
                exc.details,
            ) from None
        report.steps["start"] = round(switched.start_seconds, 2)
        report.steps["switch"] = round(switched.seconds - switched.start_seconds, 2)
        report.config_version, report.slot, report.degraded = version, switched.to_slot, switched.degraded
        # 5. the pin, and the record `--rollback` reads
        write_pin(old_stack.project.stack_file, plan.target)
        self._record(plan, report)
        return report

    @staticmethod
    def _refuse_breaking_downgrade(plan: UpgradePlan) -> None:
        if plan.downgrade and plan.breaking:
            names = ", ".join(sorted(plan.breaking))
            raise UsageError(
                f"LiteLLM {plan.target} may not run on this database: {names} changed the schema in a way "
                "an older version does not expect",
                hint="restore the backup taken before the upgrade (`bin/ops backups`; `bin/ops restore ID`), "
                f"then `bin/ops upgrade --to {plan.target} --downgrade`",
            )

    def _target_images(self, tstack: Stack, old_choices: list[ImageChoice]) -> list[ImageChoice]:
        """The images the stack runs after the upgrade: the target's gateway (present, pulled, or
        built offline at a low CPU weight), the rest as they are."""
        images = Images(tstack.project, tstack.settings, tstack.docker, self.say)
        try:
            chosen = images.choose_one(gateway.SERVICE, build=False)
        except OpsError:  # not here and not pulled
            images.build(gateway.SERVICE, cpu_shares=tstack.settings.gateway.start_cpu_weight)
            chosen = images.choose_one(gateway.SERVICE, build=False, pull=False)
        return [chosen if c.service == gateway.SERVICE else c for c in old_choices]

    def _pg_env(self) -> dict[str, str]:
        return client_env(envfile.read(self.stack.project.env_file))

    def _undo_schema(self, plan: UpgradePlan, report: UpgradeReport) -> str:
        """After a failed start: the old version serves on the migrated schema when the applied
        migrations only add; else the backup taken first is restored. Returns what was done."""
        if not plan.breaking:
            return (
                f" on the migrated schema ({len(report.applied)} migrations applied, each one only adds: "
                "an older LiteLLM ignores what it does not know)"
            )
        from gwops.backup.restore import restore

        self.say(f"the applied migrations change the schema LiteLLM {plan.running} expects: restoring {report.backup}")
        restore(
            self.stack.backups(),
            report.backup,
            lambda: gateway.stop(self.stack),
            lambda: gateway.start(self.stack),
            self.say,
        )
        return f", on the database restored from backup `{report.backup}` (taken before the migrations)"

    def _record(self, plan: UpgradePlan, report: UpgradeReport) -> None:
        entries = history(self.stack)
        entries.append(
            {
                "from": plan.running,
                "to": plan.target,
                "at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
                "backup": report.backup,
                "migrations": report.applied,
                "downgrade": plan.downgrade,
            }
        )
        atomic_write(self.stack.project.state_dir / HISTORY, json.dumps(entries[-50:], indent=1) + "\n")


# -- the pin in config/stack.yaml --------------------------------------------------------------------
def write_pin(path: Path, version: str) -> None:
    """`images.litellm_version: "VERSION"` in stack.yaml, its comments and layout kept (and
    `images.gateway`'s tags, when the file names them, moved along)."""
    import yaml

    text = path.read_text() if path.exists() else ""
    root = yaml.compose(text) if text.strip() else None
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in `text`

    def child(node: Any, key: str) -> tuple[Any, Any] | None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == key:
                    return k, v
        return None

    images = child(root, "images")
    pin = gateway_pin(version)
    if images is None:
        text = text + ("" if text.endswith("\n") or not text else "\n") + f'images:\n  litellm_version: "{version}"\n'
    else:
        found = child(images[1], "litellm_version")
        if found is not None:
            edits.append((found[1].start_mark.index, found[1].end_mark.index, f'"{version}"'))
        else:
            key = images[0]
            line_end = text.index("\n", key.end_mark.index) + 1 if "\n" in text[key.end_mark.index :] else len(text)
            indent = " " * (images[1].value[0][0].start_mark.column if images[1].value else 2)
            edits.append((line_end, line_end, f'{indent}litellm_version: "{version}"\n'))
        gw = child(images[1], "gateway")
        for name in ("official", "local"):
            ref = child(gw[1], name) if gw else None
            if ref is not None and ref[1].value:
                edits.append((ref[1].start_mark.index, ref[1].end_mark.index, getattr(pin, name)))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    atomic_write(path, text)
