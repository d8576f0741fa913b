"""Image bundles: every image the stack uses in one verified archive, for sites with no registry
and no package mirror (`bin/ops images save FILE`, `bin/ops images load FILE`).

The archive is a plain tar: the output of one `docker save` of all the images (layers shared
between images are stored once), cut into parts of at most PART_BYTES, then `manifest.json`, last
(written once every part is known): the images (reference, ID, size), and each part's name, size
and SHA-256. `load` reads the manifest, checks every part's size and checksum before loading
anything, then streams the parts into one `docker load` and checks that each image has its ID.
A damaged or cut-short archive is refused with nothing loaded. `save` writes FILE.partial and
renames it when complete: a failed save (a full disk, say) leaves no archive that looks whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gwops import __version__
from gwops.docker import engine
from gwops.errors import BundleError, DockerError, OpsError, UsageError

FORMAT = "gwops-images/1"
MANIFEST = "manifest.json"
PART_BYTES = 512 * 1024 * 1024
CHUNK = 1024 * 1024
Say = Callable[[str], None]


@dataclass(frozen=True)
class ImageRef:
    ref: str
    id: str
    size: int  # bytes, as the engine reports it (uncompressed)


class Progress:
    """A line every few seconds for work that moves gigabytes."""

    def __init__(self, say: Say, what: str, total: int, every: float = 5.0):
        self.say, self.what, self.total, self.every = say, what, total, every
        self.done, self.t0, self.last = 0, time.monotonic(), time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.say(
                f"{self.what}: {mb(self.done)}"
                + (f" of about {mb(self.total)}" if self.total else "")
                + f" ({mb(self.done / max(now - self.t0, 1e-6))}/s)"
            )


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


# -- save ---------------------------------------------------------------------------------------
def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, int(time.time())
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _pad(out: IO[bytes], size: int) -> None:
    if size % tarfile.BLOCKSIZE:
        out.write(b"\0" * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE))


def _write_parts(stream: IO[bytes], out: IO[bytes], progress: Progress, part_bytes: int) -> list[dict[str, Any]]:
    """Cut `stream` into tar members part-NNN.tar written to `out` (each header rewritten once
    its size is known); returns their names, sizes and checksums."""
    parts: list[dict[str, Any]] = []
    buf = stream.read(CHUNK)
    while buf:
        name = f"images/part-{len(parts):03d}.tar"
        start = out.tell()
        out.write(b"\0" * tarfile.BLOCKSIZE)  # the header, once the size is known
        h, size = hashlib.sha256(), 0
        while buf and size < part_bytes:
            take = buf[: part_bytes - size]
            out.write(take)
            h.update(take)
            size += len(take)
            progress.add(len(take))
            buf = buf[len(take) :] or stream.read(CHUNK)
        _pad(out, size)
        end = out.tell()
        out.seek(start)
        out.write(_header(name, size))
        out.seek(end)
        parts.append({"name": name, "bytes": size, "sha256": h.hexdigest()})
    return parts


def save(
    path: Path, images: list[ImageRef], say: Say, part_bytes: int = PART_BYTES, command: list[str] | None = None
) -> dict[str, Any]:
    """Write the bundle of `images` to `path` (atomically). Returns the manifest. `command`
    writes the images to its stdout (default: `docker save` of them)."""
    if not images:
        raise UsageError("no image to save", hint="run `bin/ops up` (or `bin/ops images build`) first")
    path = path.resolve()
    if path.is_dir():
        raise UsageError(f"`{path}` is a directory", hint="give a file name, e.g. gwops-images.tar")
    if not path.parent.is_dir():
        raise UsageError(f"the folder `{path.parent}` does not exist", hint="create it, or save elsewhere")
    total = sum(i.size for i in images)
    free = shutil.disk_usage(path.parent).free
    if free < total:
        raise OpsError(
            f"not enough free space in `{path.parent}`: {mb(free)} free, the images take up to {mb(total)}",
            hint="free some space or save to another disk",
        )
    partial = path.with_name(path.name + ".partial")
    say(f"saving {len(images)} images (about {mb(total)} before shared layers are counted once) to {path}")
    try:
        with open(partial, "wb") as out:
            proc = engine.save_process([i.ref for i in images], command)
            assert proc.stdout is not None and proc.stderr is not None
            try:
                parts = _write_parts(proc.stdout, out, Progress(say, "saved", total), part_bytes)
            finally:
                proc.stdout.close()
                err = proc.stderr.read().decode(errors="replace")
                rc = proc.wait()
            if rc != 0:
                raise DockerError(f"`docker save` failed (exit {rc}): {err.strip()[-400:]}")
            manifest = {
                "format": FORMAT,
                "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
                "gwops_version": __version__,
                "images": [{"ref": i.ref, "id": i.id, "size": i.size} for i in images],
                "parts": parts,
            }
            data = (json.dumps(manifest, indent=2) + "\n").encode()
            out.write(_header(MANIFEST, len(data)))
            out.write(data)
            _pad(out, len(data))
            out.write(b"\0" * tarfile.BLOCKSIZE * 2)  # end of archive
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OpsError(
            f"writing `{path}` failed: {exc.strerror or exc}",
            hint="nothing was left behind; free some space (or fix the folder's permissions) and run it again",
        ) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    size = path.stat().st_size
    say(f"saved {len(images)} images in {len(parts)} part(s): {path} ({mb(size)})")
    return manifest


# -- load ---------------------------------------------------------------------------------------
def _open(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        raise UsageError(f"no file `{path}`", hint="give the path of a bundle made by `bin/ops images save`")
    try:
        return tarfile.open(path, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(
            f"`{path}` is not a bundle of images: {exc}",
            hint="make it again with `bin/ops images save` and copy it whole",
        ) from None


def read_manifest(tar: tarfile.TarFile, path: Path) -> tuple[dict[str, Any], dict[str, tarfile.TarInfo]]:
    try:
        members = {m.name: m for m in tar.getmembers()}
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleError(
            f"`{path}` is damaged or cut short: {exc}",
            hint="copy it again from the machine that saved it; nothing was loaded",
        ) from None
    if MANIFEST not in members:
        raise BundleError(
            f"`{path}` has no manifest: it is cut short or not a bundle",
            hint="copy it again whole (its manifest is written last); nothing was loaded",
        )
    fh = tar.extractfile(members[MANIFEST])
    try:
        manifest = json.loads(fh.read()) if fh else None
        if manifest.get("format") != FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}")
        for p in manifest["parts"]:
            str(p["name"]), int(p["bytes"]), str(p["sha256"])
        for i in manifest["images"]:
            str(i["ref"]), str(i["id"])
    except (ValueError, TypeError, KeyError, AttributeError, tarfile.TarError, OSError) as exc:
        raise BundleError(
            f"the manifest of `{path}` is damaged: {exc}", hint="copy the bundle again; nothing was loaded"
        ) from None
    return manifest, members


def _chunks(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[bytes]:
    fh = tar.extractfile(member)
    if fh is None:
        return
    while True:
        buf = fh.read(CHUNK)
        if not buf:
            return
        yield buf


def verify(path: Path, say: Say) -> tuple[dict[str, Any], tarfile.TarFile, dict[str, tarfile.TarInfo]]:
    """Every part present, of its size and checksum; raises BundleError naming the first that is not."""
    tar = _open(path)
    manifest, members = read_manifest(tar, path)
    total = sum(int(p["bytes"]) for p in manifest["parts"])
    progress = Progress(say, "verified", total)
    say(f"verifying {path}: {len(manifest['images'])} images in {len(manifest['parts'])} part(s), {mb(total)}")
    for p in manifest["parts"]:
        m = members.get(p["name"])
        if m is None or m.size != int(p["bytes"]):
            raise BundleError(
                f"`{path}`: part {p['name']} is missing or of the wrong size (cut short?)",
                hint="copy the bundle again whole; nothing was loaded",
            )
        h, n = hashlib.sha256(), 0
        try:
            for buf in _chunks(tar, m):
                h.update(buf)
                n += len(buf)
                progress.add(len(buf))
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BundleError(
                f"`{path}`: part {p['name']} cannot be read: {exc}",
                hint="copy the bundle again whole; nothing was loaded",
            ) from None
        if n != int(p["bytes"]) or h.hexdigest() != p["sha256"]:
            raise BundleError(
                f"`{path}`: part {p['name']} does not match its checksum (damaged in transit?)",
                hint="copy the bundle again; nothing was loaded",
            )
    return manifest, tar, members


def load(
    path: Path, say: Say, image_id: Callable[[str], str | None], command: list[str] | None = None
) -> list[dict[str, Any]]:
    """Verify the whole bundle, then load it; returns the manifest's images. `image_id` looks an
    image up after the load (its ID must be the one saved). `command` reads the images on its
    stdin (default: `docker load`)."""
    manifest, tar, members = verify(path, say)
    total = sum(int(p["bytes"]) for p in manifest["parts"])
    say(f"loading {len(manifest['images'])} images into the Docker engine")
    progress = Progress(say, "loaded", total)
    with tar:
        proc = engine.load_process(command)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            for p in manifest["parts"]:
                for buf in _chunks(tar, members[p["name"]]):
                    proc.stdin.write(buf)
                    progress.add(len(buf))
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()
            out = proc.stdout.read().decode(errors="replace")
            rc = proc.wait()
    if rc != 0:
        raise DockerError(
            f"`docker load` failed (exit {rc}): {out.strip()[-400:]}",
            hint="is there room for the images in Docker's data root? (`docker system df`)",
        )
    wrong = [i["ref"] for i in manifest["images"] if image_id(i["ref"]) != i["id"]]
    if wrong:
        raise DockerError(
            f"after loading, these images do not have the saved IDs: {', '.join(wrong)}",
            hint="run `bin/ops images load` again",
        )
    for i in manifest["images"]:
        say(f"loaded {i['ref']}")
    return list(manifest["images"])
