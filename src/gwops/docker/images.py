"""Images: look-ups, pulls, builds, imports, and running or reading one (part of gwops.docker.Docker)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from gwops.docker.convert import convert as _convert
from gwops.errors import DockerError


class ImageOps:
    """The image calls of gwops.docker.Docker (which provides `sdk`)."""

    sdk: Any

    def run_image(self, image: str, command: list[str]) -> bytes:
        """The standard output of `command` run once in a throwaway container of `image` (no
        network, its entrypoint replaced)."""
        try:
            return bytes(
                self.sdk.containers.run(
                    image,
                    command[1:],
                    entrypoint=command[:1],
                    remove=True,
                    network_mode="none",
                    stdout=True,
                    stderr=False,
                )
            )
        except Exception as exc:  # noqa: BLE001 (the SDK's errors, converted)
            raise _convert(exc, f"run {command[0]} in {image}") from exc

    def run_detached(self, image: str, **options: Any) -> Any:
        """A throwaway container of `image` started in the background with no network (`options`:
        the SDK's `containers.run` arguments: environment, labels, tmpfs); the caller removes it."""
        try:
            return self.sdk.containers.run(image, detach=True, network_mode="none", **options)
        except Exception as exc:  # noqa: BLE001 (the SDK's errors, converted)
            raise _convert(exc, f"start a container of {image}") from exc

    def image_files(self, image: str, path: str) -> dict[str, bytes]:
        """The files under `path` in `image` (relative name -> content), read from a created,
        never started, container."""
        import io
        import tarfile

        try:
            c = self.sdk.containers.create(image, entrypoint=["true"], network_mode="none")
        except Exception as exc:  # noqa: BLE001 (the SDK's errors, converted)
            raise _convert(exc, f"create a container of {image}") from exc
        try:
            stream, _ = c.get_archive(path)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                top = path.rstrip("/").rsplit("/", 1)[-1]
                return {
                    m.name.removeprefix(top + "/"): tar.extractfile(m).read()  # type: ignore[union-attr]
                    for m in tar.getmembers()
                    if m.isfile()
                }
        except Exception as exc:  # noqa: BLE001 (the SDK's errors, converted)
            raise _convert(exc, f"read {path} from {image}") from exc
        finally:
            c.remove(force=True)

    # -- images ----------------------------------------------------------------------------------
    @cached_property
    def _images(self) -> dict[str, Any]:
        """Images looked up in this run, by reference (None: not present); emptied by a build,
        import or pull, so the choice of images looks each one up once."""
        return {}

    def _image(self, ref: str) -> Any | None:
        import docker.errors

        if ref not in self._images:
            try:
                self._images[ref] = self.sdk.images.get(ref)
            except docker.errors.ImageNotFound:
                self._images[ref] = None
        return self._images[ref]

    def image_labels(self, ref: str) -> dict[str, str] | None:
        img = self._image(ref)
        return None if img is None else dict(img.labels or {})

    def image_id(self, ref: str) -> str | None:
        img = self._image(ref)
        return None if img is None else str(img.id)

    def image_size(self, ref: str) -> int:
        img = self._image(ref)
        return 0 if img is None else int(img.attrs.get("Size") or 0)

    def image_exists(self, ref: str) -> bool:
        return self.image_labels(ref) is not None

    def pull(self, ref: str) -> bool:
        import docker.errors

        self._images.clear()
        try:
            self.sdk.images.pull(ref)
            return True
        except docker.errors.APIError:
            return False

    def build(
        self,
        context: Path,
        tag: str,
        buildargs: dict[str, str],
        labels: dict[str, str],
        on_line: Callable[[str], None],
        cpu_shares: int | None = None,
    ) -> None:
        import docker.errors

        self._images.clear()
        try:
            limits = {"cpushares": cpu_shares} if cpu_shares else None
            for chunk in self.sdk.api.build(
                path=str(context),
                tag=tag,
                buildargs=buildargs,
                labels=labels,
                rm=True,
                forcerm=True,
                decode=True,
                container_limits=limits,
            ):
                if "error" in chunk:
                    raise DockerError(
                        f"building `{tag}` failed: {chunk['error'].strip()}",
                        hint=f"the Dockerfile is in `{context}`; fix it or the network and retry",
                    )
                line = chunk.get("stream", "").strip()
                if line:
                    on_line(line)
        except docker.errors.APIError as exc:
            raise DockerError(f"building `{tag}` failed: {exc}") from exc

    def import_rootfs(self, tar_stream: Any, tag: str) -> None:
        self._images.clear()
        repo, _, t = tag.partition(":")
        self.sdk.api.import_image_from_stream(tar_stream, repository=repo, tag=t or "latest")

    def image_config(self, ref: str) -> dict[str, Any]:
        """An image's run configuration (`Entrypoint`, `Cmd`, ...): {} when it is not here."""
        img = self._image(ref)
        return dict(img.attrs.get("Config") or {}) if img is not None else {}
