"""`bin/ops images save` / `load` on the real engine: the bundle of the images a stack uses, a
damaged and a cut-short copy refused with nothing loaded, and after the images are removed, a load
that lets `up` start the stack without building anything."""

from __future__ import annotations

import json
import subprocess
import tarfile

import pytest

from tests.integration.conftest import ops

pytestmark = pytest.mark.integration


def image_id(ref: str) -> str | None:
    r = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def test_bundle_round_trip(copy, tmp_path, background_images):  # no build beside it: it removes the base
    root, env = copy  # the core stack (monitoring off): proxy, gateway, postgres, redis
    path = tmp_path / "gwops-images.tar"
    r = ops(root, env, "images", "save", str(path))
    assert r.returncode == 0, r.stderr
    with tarfile.open(path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    refs = [i["ref"] for i in manifest["images"]]
    assert {
        "gwops/litellm:1.106.2",
        "gwops/postgres:15",
        "gwops/redis:7",
        "gwops/haproxy:2.6",
        "gwops/debian:bookworm",
    } <= set(refs), refs
    assert all(i["id"] == image_id(i["ref"]) for i in manifest["images"])
    print(f"bundle: {path.stat().st_size / 1e6:,.0f} MB, {len(manifest['parts'])} parts, {len(refs)} images")

    offset, byte = None, b""
    try:
        subprocess.run(["docker", "rmi", *refs], capture_output=True, text=True, check=True)
        assert not any(image_id(ref) for ref in refs)

        # one byte changed in the middle of a part: refused, nothing loaded
        first = manifest["parts"][0]
        with tarfile.open(path) as tar:
            offset = tar.getmember(first["name"]).offset_data + first["bytes"] // 2
        with open(path, "r+b") as fh:
            fh.seek(offset)
            byte = fh.read(1)
            fh.seek(offset)
            fh.write(bytes([byte[0] ^ 0xFF]))
        bad = ops(root, env, "images", "load", str(path))
        assert bad.returncode == 2 and "does not match its checksum" in bad.stderr, bad.stderr
        with open(path, "r+b") as fh:  # put it back
            fh.seek(offset)
            fh.write(byte)

        # cut short (the manifest is written last): refused, nothing loaded
        short = tmp_path / "short.tar"
        with open(path, "rb") as src, open(short, "wb") as dst:
            dst.write(src.read(50_000_000))
        cut = ops(root, env, "images", "load", str(short))
        assert cut.returncode == 2 and "cut short" in cut.stderr and "Traceback" not in cut.stderr, cut.stderr
        assert not any(image_id(ref) for ref in refs)

        ok = ops(root, env, "images", "load", str(path))
        assert ok.returncode == 0, ok.stderr
        assert all(image_id(i["ref"]) == i["id"] for i in manifest["images"])
    finally:  # whatever happened, the images are back for the other tests
        if offset is not None:
            with open(path, "r+b") as fh:
                fh.seek(offset)
                fh.write(byte)
        if not all(image_id(ref) for ref in refs):
            ops(root, env, "images", "load", str(path))

    up = ops(root, env, "up")
    assert up.returncode == 0, up.stderr
    assert "(built)" not in up.stderr and "building" not in up.stderr, up.stderr
    assert "gateway: local image gwops/litellm:1.106.2 (present)" in up.stderr, up.stderr
