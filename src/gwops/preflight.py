"""`up`'s first stage: the engine and Compose checked (while the config compiles), `.env`, the
config, no Swarm stack of this checkout on the same volumes, and the ports the stack publishes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gwops import components, envfile, host
from gwops.components import postgres
from gwops.config.pipeline import Compiled
from gwops.errors import OpsError, PrerequisiteError
from gwops.stack import Containers, Stack, first


def preflight_and_validate(stack: Stack, active: str) -> tuple[envfile.EnvResult, Compiled, Containers]:
    """Engine and Compose checked (their CLI calls run while the config compiles: the engine
    answering is reported before an invalid config), `.env`, the config, the public port.
    Returns `.env`, the compiled config and the project's containers as they are now (one
    listing, used by the later stages)."""
    with ThreadPoolExecutor(2) as pool:
        engine = pool.submit(host.ensure_engine, stack.project.logs_dir, stack.say)
        compose = pool.submit(host.ensure_compose, stack.say)
        env = envfile.ensure(stack.project.env_file, stack.project.env_example, stack.managed_env(active))
        try:
            compiled: Compiled | OpsError = stack.compile(env.values)
        except OpsError as exc:
            compiled = exc
        engine.result()
        stack.compose_version = compose.result()
    for note in env.notes:
        stack.say(note)
    if isinstance(compiled, OpsError):
        raise compiled
    for note in compiled.notes:
        stack.say(note)
    found = stack.docker.all_containers()
    # a Swarm stack of this checkout runs its own Postgres on the same volume; it cannot run
    # beside this stack's own (refused by `swarm deploy`), so a serving stack needs no look
    pg = first(found, postgres.SERVICE)
    swarm = (
        []
        if pg is not None and pg.status == "running"
        else [c.name for c in stack.docker.stack_containers() if c.status == "running"]
    )
    if swarm:
        raise PrerequisiteError(
            f"this checkout's stack runs on Docker Swarm ({len(swarm)} containers, e.g. "
            f"`{swarm[0]}`): a Compose stack would start a second Postgres on the same "
            "data volume",
            hint="`bin/ops swarm rm` first (its volumes stay), or keep deploying with `bin/ops swarm deploy`",
        )
    check_ports(stack, found)
    return env, compiled, found


def check_ports(stack: Stack, found: Containers) -> None:
    """Every port the enabled components publish is free, or held by this stack's own
    container; else the error names who holds it and the setting that moves it."""
    ours = {
        (b.get("HostIp"), b.get("HostPort"))
        for cs in found.values()
        for c in cs
        if c.status == "running"
        for v in (c.attrs.get("HostConfig", {}).get("PortBindings") or {}).values()
        for b in (v or [])
    }
    wanted = [
        (bind, port, setting)
        for c, bind, port, setting in components.published(stack.settings)
        if not c.image_absent(stack.settings, stack.docker)
    ]
    seen: dict[tuple[str, int], str] = {}
    for bind, port, setting in wanted:  # validate refuses this too, with lines (config/ports.py)
        if (bind, port) in seen:
            raise PrerequisiteError(
                f"`{setting}` and `{seen[(bind, port)]}` are both port {bind}:{port}",
                hint="give each its own port in config/stack.yaml",
            )
        seen[(bind, port)] = setting
    for bind, port, setting in wanted:
        if (bind, str(port)) in ours:
            continue
        holder = host.port_holder(bind, port)
        if holder:
            raise PrerequisiteError(
                f"port {bind}:{port} (`{setting}`) is already in use by {holder}",
                hint=f"stop that process, or choose another `{setting}` in config/stack.yaml",
            )
