"""Checkpoint checksums: any changed byte in a saved file is the one-line 'corrupt' error."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marl_alloc.floor.checksums import MANIFEST, verify_manifest, write_manifest
from marl_alloc.floor.errors import UserError
from tests.fuzz import FUZZ


def saved(root, files: dict[str, bytes]):
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    write_manifest(root)
    return root


def test_an_untouched_checkpoint_verifies_and_sha256sum_reads_its_manifest(tmp_path):
    import subprocess

    root = saved(tmp_path, {"a.pkl": b"weights", "sub/module_state.pkl": bytes(range(256))})
    verify_manifest(root)
    check = subprocess.run(["sha256sum", "-c", MANIFEST], cwd=root, capture_output=True)
    assert check.returncode == 0, check.stdout


def test_200_garbled_bytes_in_a_module_state_are_corrupt(tmp_path):
    root = saved(tmp_path, {"leaf/module_state.pkl": bytes(4000)})
    state = root / "leaf/module_state.pkl"
    data = bytearray(state.read_bytes())
    data[1000:1200] = b"\x7f" * 200
    state.write_bytes(bytes(data))
    with pytest.raises(UserError, match="is corrupt: leaf/module_state.pkl does not match"):
        verify_manifest(root)


def test_a_missing_file_or_garbled_manifest_is_corrupt(tmp_path):
    root = saved(tmp_path, {"a.pkl": b"x", "b.pkl": b"y"})
    (root / "b.pkl").unlink()
    with pytest.raises(UserError, match="b.pkl is missing"):
        verify_manifest(root)
    (root / MANIFEST).write_text("not a checksum line\n")
    with pytest.raises(UserError, match="line 1 is garbled"):
        verify_manifest(root)


def test_an_old_checkpoint_without_checksums_loads_with_one_warning(tmp_path, capsys):
    (tmp_path / "module_state.pkl").write_bytes(b"old")
    verify_manifest(tmp_path)
    warning = capsys.readouterr().err
    assert warning.startswith("warning: ") and warning.count("\n") == 1
    assert "loading it unverified" in warning


@FUZZ
@given(data=st.binary(min_size=1, max_size=512), at=st.integers(0, 511), flip=st.integers(1, 255))
def test_any_changed_byte_is_found(tmp_path_factory, data, at, flip):
    root = saved(tmp_path_factory.mktemp("ckpt"), {"module_state.pkl": data})
    changed = bytearray(data)
    changed[at % len(data)] ^= flip
    (root / "module_state.pkl").write_bytes(bytes(changed))
    with pytest.raises(UserError, match="is corrupt"):
        verify_manifest(root)
