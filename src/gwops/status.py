"""`status`: every service of the stack (state, health, replicas ready of total, restarts), the
gateway as clients see it (URL, slot, config version, database engine, routes), backups and alerts."""

from __future__ import annotations

from typing import Any

from gwops import envfile, purge, routecheck, slots
from gwops.components import gateway, postgres
from gwops.errors import OpsError
from gwops.health import answers
from gwops.stack import Containers, Stack, first


def collect(stack: Stack) -> dict[str, Any]:
    """What `bin/ops status` shows: each service, the gateway as clients see it, backups, alerts."""
    st = slots.load(stack.project)
    containers = stack.docker.all_containers()
    rows, core = [], []
    for comp in stack.registry:
        if not comp.enabled(stack.settings):
            continue
        shown, others = comp.services(st.active) if comp.services else ([comp.service], [])
        pin = getattr(stack.settings.images, comp.name)
        for svc in [*shown, *(o for o in others if containers.get(o))]:
            row = {
                "component": comp.name,
                "core": comp.core,
                **service_row(svc, containers.get(svc, []), pin, comp.ready_url(stack.settings)),
            }
            if comp.status_row is not None:
                comp.status_row(stack, row)
            if not comp.core and row["state"] == "absent" and comp.image_absent(stack.settings, stack.docker):
                row["note"] = f"not started: its image {pin.official} is not on this host (`docker pull` it)"
            elif not comp.core and (row["state"] != "running" or row["health"] not in ("healthy", "none")):
                row.setdefault("problem", f"{svc} is {row['state']} ({row['health']})")
                row.setdefault("next", "`bin/ops up` starts it; `bin/ops logs " + svc + "` says why it stopped")
            rows.append(row)
            if comp.core and svc in shown:
                core.append(row)
    gateway_info = gateway_status(stack, st, containers)
    backups = backup_status(stack)
    database = database_status(stack, containers)
    running = [r for r in core if r["state"] == "running"]
    healthy = [r for r in running if r["health"] in ("healthy", "none")]
    if not running:
        overall = "down"
    elif (
        len(healthy) == len(core)
        and not any("problem" in r for r in rows)
        and "error" not in gateway_info
        and not backups.get("stale")
        and not gateway_info.get("degraded_routes")
    ):
        overall = "healthy"
    else:
        overall = "degraded"
    out = {
        "project": stack.project_name,
        "overall": overall,
        "services": rows,
        "gateway": gateway_info,
        "backups": backups,
        "database": database,
        "alerts": alerts(stack, rows),
    }
    if not running and any(c.status == "running" for c in stack.docker.stack_containers()):
        out["swarm"] = "this checkout's stack runs on Docker Swarm: `bin/ops swarm status` shows it"
    return out


def alerts(stack: Stack, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Firing and pending alerts when Prometheus runs (None: monitoring off or not answering)."""
    from gwops.components import prometheus as prom

    if not any(r["component"] == prom.SERVICE and r["state"] == "running" for r in rows):
        return None
    try:
        return prom.alerts(stack)
    except (OSError, ValueError, KeyError):
        return None


def gateway_status(stack: Stack, st: slots.SlotState, containers: Containers) -> dict[str, Any]:
    """The gateway as clients see it: its URL, active slot and config version, whether the
    database is wired, and the routes `/v1/models` lists through the public port."""
    info: dict[str, Any] = {
        "url": stack.url,
        "routes": [],
        "database": None,
        "active_slot": st.active,
        "config_version": st.version,
        "live_since": st.live_since,
    }
    checked = routecheck.load(stack.project.state_dir, st.version)
    if checked:  # optional routes whose check failed when this version went live (or at `up`)
        info["degraded_routes"] = checked["degraded"]
        info["routes_checked_at"] = checked["checked_at"]
    gc = first(containers, gateway.service(st.active))
    if gc is None:
        return info
    info["litellm_version"] = gateway.running_version(gc)
    envs = gc.attrs["Config"].get("Env") or []
    info["database"] = any(e.startswith("DATABASE_URL=") for e in envs)
    if not info["database"]:
        info["database_note"] = gateway.NO_DB_REASON
    else:
        engine = next((e.split("=", 1)[1] for e in envs if e.startswith("GWOPS_DATABASE_ENGINE=")), "")
        info["database_engine"] = gateway.DB_ENGINES.get(engine, engine)
    key = envfile.read(stack.project.env_file).get("LITELLM_MASTER_KEY", "")
    import httpx

    try:
        r = httpx.get(f"{stack.url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=5)
        if r.status_code == 200:
            info["routes"] = sorted(m["id"] for m in r.json().get("data", []))
        else:
            info["error"] = f"/v1/models answered HTTP {r.status_code}"
    except (httpx.HTTPError, ValueError) as exc:
        info["error"] = f"/v1/models: {type(exc).__name__}"
    return info


def service_row(svc: str, found: list[Any], pin: Any, ready_url: str | None = None) -> dict[str, Any]:
    """One service: its state and health (a gateway slot's: healthy only with every replica
    ready), replicas ready/total and restarts. A running container whose first healthcheck is
    still to come is healthy when `ready_url` (its component's, see `up`) answers."""
    if not found:
        return {
            "service": svc,
            "state": "absent",
            "health": "-",
            "image": "-",
            "kind": "-",
            "ports": [],
            "replicas": "0/0",
            "ready": 0,
            "total": 0,
            "restarts": 0,
        }
    states = [c.attrs["State"] for c in found]
    healths = [(st.get("Health") or {}).get("Status", "none") for st in states]
    # running, not restarting (Docker keeps Running true while a container waits to restart)
    up = [st.get("Status") == "running" for st in states]
    if ready_url and any(h == "starting" and r for r, h in zip(up, healths, strict=True)) and answers(ready_url):
        healths = ["healthy" if h == "starting" and r else h for r, h in zip(up, healths, strict=True)]
    waiting = [(r, h) for r, h in zip(up, healths, strict=True) if not (r and h in ("healthy", "none"))]
    ready = len(found) - len(waiting)
    image = found[0].attrs["Config"]["Image"]
    ports = [
        f"{b['HostIp']}:{b['HostPort']}->{p}"
        for c in found
        for p, bs in (c.attrs["NetworkSettings"].get("Ports") or {}).items()
        for b in (bs or [])
    ]
    if not waiting:
        health = healths[0]
    elif ready and all(r and h == "starting" for r, h in waiting):
        health = "starting"  # the others wait for their first healthcheck (or restarted)
    elif ready:
        health = "degraded"  # serving on the replicas that are ready
    else:
        health = next((h for h in healths if h not in ("healthy", "none")), "unhealthy")
    return {
        "service": svc,
        "state": "running" if any(up) else states[0].get("Status"),
        "health": health,
        "image": image,
        "kind": "local" if image == pin.local else ("official" if image == pin.official else "other"),
        "ports": ports,
        "replicas": f"{ready}/{len(found)}",
        "ready": ready,
        "total": len(found),
        "restarts": sum(int(c.attrs.get("RestartCount") or 0) for c in found),
    }


def database_status(stack: Stack, containers: Containers) -> dict[str, Any] | None:
    """The database's upkeep (gwops.purge.upkeep) when Postgres runs and LiteLLM uses it (None:
    off, not running, or not answering: its row says why)."""
    pg = first(containers, postgres.SERVICE)
    if not stack.settings.database.enabled or pg is None or pg.status != "running":
        return None
    db = stack.settings.database
    try:
        out = purge.upkeep(
            stack.docker, postgres.SERVICE, postgres.client_env(envfile.read(stack.project.env_file)), db.retention_days
        )
    except (OpsError, ValueError):
        return None
    if out["behind"]:
        out["next"] = (
            f"spend-log rows are {out['oldest_spend_days']} days old, past `database.retention_days` "
            f"({db.retention_days}): `bin/ops purge` deletes them; `bin/ops cron install` runs it nightly"
        )
    return out


def backup_status(stack: Stack) -> dict[str, Any]:
    """Age of the last verified backup; stale when older than the schedule allows."""
    b = stack.backups()
    age = b.last_verified_age()
    if age is None:
        return {"last_verified_age_seconds": None, "stale": False, "note": "no verified backup yet"}
    limit = b.max_age()
    return {"last_verified_age_seconds": round(age), "max_age_seconds": round(limit), "stale": age > limit}
