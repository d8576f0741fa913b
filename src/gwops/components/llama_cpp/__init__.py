"""llama.cpp's `llama-server` on the host network, serving one GGUF model
(`backends.llama_cpp` in config/stack.yaml). Its local image is built offline from the llama.cpp
source inside the `llama-cpp-python` sdist on PyPI (the host downloads it): about 10 minutes on 2
cores, one static binary at /app/llama-server as in the official server image."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from gwops.components import wheels
from gwops.components.base import Component
from gwops.components.model_servers import enabled

if TYPE_CHECKING:
    from gwops.components.base import BuildContext
    from gwops.settings import StackSettings

SERVICE = "llama_cpp"
SDIST = "llama-cpp-python==0.3.36"  # carries llama.cpp's source in vendor/llama.cpp


def build_args(settings: StackSettings) -> dict[str, str]:
    return {"LLAMA_SOURCE": SDIST}


def build_context(images: BuildContext) -> Path:
    """image/ plus llama.cpp's source, from the sdist the host downloads once."""
    cache = wheels.pip_download(
        images,
        images.cache / "sources" / SDIST.replace("==", "-"),
        [["--no-deps", "--no-binary", ":all:", SDIST]],
        f"{SDIST} (llama.cpp's source, 76 MB)",
    )
    archive = next(cache.glob("*.tar.gz"))
    ctx = images.cache / "build" / SERVICE
    shutil.rmtree(ctx, ignore_errors=True)
    shutil.copytree(COMPONENT.image_dir, ctx)
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        prefix = f"{top}/vendor/llama.cpp/"
        members = [m for m in tar.getmembers() if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
        for m in members:
            m.name = "llama.cpp/" + m.name[len(prefix) :]
        tar.extractall(ctx, members=members, filter="data")
    return ctx


COMPONENT = Component(
    name=SERVICE,
    package=__name__,
    description="llama.cpp server (host network)",
    enabled=enabled(SERVICE),
    build_args=build_args,
    build_context=build_context,
)
