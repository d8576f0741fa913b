"""Image bundles without an engine: the archive's parts and manifest, and every way a copied
archive goes wrong (a changed byte, cut short, not a bundle) refused before anything is loaded.
The round trip through a real engine is in tests/integration/test_images_bundle.py."""

from __future__ import annotations

import hashlib
import json
import random
import sys
import tarfile

import pytest

from gwops import bundle
from gwops.bundle import ImageRef
from gwops.errors import BundleError

pytestmark = pytest.mark.unit

IMAGES = [ImageRef("gwops/a:1", "sha256:aaa", 3000), ImageRef("gwops/b:1", "sha256:bbb", 2000)]


def stream_cmd(path):
    return [sys.executable, "-c", f"import sys; sys.stdout.buffer.write(open({str(path)!r}, 'rb').read())"]


@pytest.fixture
def made(tmp_path):
    payload = random.Random(1).randbytes(5124)  # three parts of 2,000 bytes at most
    src = tmp_path / "images.tar"
    src.write_bytes(payload)
    out = tmp_path / "bundle.tar"
    manifest = bundle.save(out, IMAGES, lambda m: None, part_bytes=2000, command=stream_cmd(src))
    return out, payload, manifest


def test_parts_carry_the_stream_with_their_checksums(made, tmp_path):
    out, payload, manifest = made
    assert [p["bytes"] for p in manifest["parts"]] == [2000, 2000, 1124]
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert names[-1] == "manifest.json" and names[:-1] == [p["name"] for p in manifest["parts"]]
        joined = b"".join(tar.extractfile(p["name"]).read() for p in manifest["parts"])
        assert json.loads(tar.extractfile("manifest.json").read())["images"][0] == {
            "ref": "gwops/a:1",
            "id": "sha256:aaa",
            "size": 3000,
        }
    assert joined == payload
    assert manifest["parts"][0]["sha256"] == hashlib.sha256(payload[:2000]).hexdigest()
    assert not (tmp_path / "bundle.tar.partial").exists()


def test_load_streams_every_part_in_order_then_checks_ids(made, tmp_path):
    out, payload, _ = made
    sink = tmp_path / "loaded"
    ids = {"gwops/a:1": "sha256:aaa", "gwops/b:1": "sha256:bbb"}
    cmd = [sys.executable, "-c", f"import sys; open({str(sink)!r}, 'wb').write(sys.stdin.buffer.read())"]
    got = bundle.load(out, lambda m: None, ids.get, command=cmd)
    assert sink.read_bytes() == payload and [i["ref"] for i in got] == ["gwops/a:1", "gwops/b:1"]
    with pytest.raises(Exception, match="do not have the saved IDs: gwops/b:1"):
        bundle.load(out, lambda m: None, {"gwops/a:1": "sha256:aaa"}.get, command=cmd)


def _loader(tmp_path):
    sink = tmp_path / "must-not-exist"
    return sink, [sys.executable, "-c", f"open({str(sink)!r}, 'wb').write(b'x')"]


def test_a_changed_byte_is_refused_and_nothing_loaded(made, tmp_path):
    out, payload, manifest = made
    data = bytearray(out.read_bytes())
    at = data.find(payload[2100:2140])  # inside the second part
    data[at] ^= 0xFF
    out.write_bytes(bytes(data))
    sink, cmd = _loader(tmp_path)
    with pytest.raises(BundleError, match="part images/part-001.tar does not match its checksum") as err:
        bundle.load(out, lambda m: None, lambda r: None, command=cmd)
    assert err.value.exit_code == 2 and "nothing was loaded" in err.value.hint
    assert not sink.exists()


@pytest.mark.parametrize("cut", ["in a part", "before the manifest", "in the manifest"])
def test_a_cut_short_archive_is_refused_and_nothing_loaded(made, tmp_path, cut):
    out, _, _ = made
    data = out.read_bytes()
    manifest_at = data.find(b"manifest.json")  # its header (the manifest is the last member)
    keep = {"in a part": 3000, "before the manifest": manifest_at, "in the manifest": manifest_at + 600}[cut]
    out.write_bytes(data[:keep])
    sink, cmd = _loader(tmp_path)
    with pytest.raises(BundleError, match="cut short|damaged|cannot be read|no manifest"):
        bundle.load(out, lambda m: None, lambda r: None, command=cmd)
    assert not sink.exists()


def test_not_a_bundle(tmp_path):
    f = tmp_path / "x.tar"
    f.write_bytes(b"hello" * 1000)
    with pytest.raises(BundleError, match="not a bundle|no manifest|damaged"):
        bundle.verify(f, lambda m: None)
    with pytest.raises(Exception, match="no file"):
        bundle.verify(tmp_path / "absent.tar", lambda m: None)


def test_a_failed_save_leaves_nothing(tmp_path):
    out = tmp_path / "bundle.tar"
    fail = [sys.executable, "-c", "import sys; sys.stdout.write('abc'); sys.exit(3)"]
    with pytest.raises(Exception, match="exit 3"):
        bundle.save(out, IMAGES, lambda m: None, command=fail)
    assert list(tmp_path.iterdir()) == []


def test_not_enough_space_is_said_before_writing(tmp_path):
    huge = [ImageRef("gwops/a:1", "sha256:aaa", 10**18)]
    with pytest.raises(Exception, match="not enough free space"):
        bundle.save(tmp_path / "b.tar", huge, lambda m: None, command=["true"])
    assert list(tmp_path.iterdir()) == []
