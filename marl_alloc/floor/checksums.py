"""Checkpoint checksums: SHA-256 of every file a save wrote, checked before anything loads them.

The manifest is in `sha256sum` format, so `sha256sum -c checksums.sha256` in the checkpoint dir
checks it too. Garbled bytes inside a pickle of tensors can load without error (as weights of
1e36 or NaN); a checksum turns that into the one-line 'corrupt checkpoint' error.
"""

import hashlib
import sys
from pathlib import Path

from marl_alloc.floor.errors import UserError

MANIFEST = "checksums.sha256"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(root: Path) -> Path:
    """Checksum every file under `root` into `root/MANIFEST` (written whole, then renamed)."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    lines = [f"{file_sha256(p)}  {p.relative_to(root).as_posix()}\n" for p in files]
    staging = root / (MANIFEST + ".tmp")
    staging.write_text("".join(lines))
    staging.replace(root / MANIFEST)
    return root / MANIFEST


def verify_manifest(root: Path) -> None:
    """Check the files `root/MANIFEST` lists; a checkpoint saved before checksums existed loads
    with one warning line. A missing, garbled or changed file is a UserError."""
    manifest = root / MANIFEST
    if not manifest.is_file():
        # On stderr as the entry points' own warnings, not through logging (Hydra sends that
        # to stdout, whose last line train keeps for the checkpoint path).
        print(
            f"warning: checkpoint {root} has no {MANIFEST} (saved by an older marl-alloc):"
            " loading it unverified",
            file=sys.stderr,
        )
        return
    try:
        text = manifest.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"checkpoint {root} is corrupt: unreadable {MANIFEST} ({err})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        expected, sep, name = line.partition("  ")
        if not sep or len(expected) != 64 or not name or ".." in Path(name).parts:
            raise UserError(f"checkpoint {root} is corrupt: {MANIFEST}, line {number} is garbled")
        path = root / name
        if not path.is_file():
            raise UserError(f"checkpoint {root} is corrupt: {name} is missing")
        if file_sha256(path) != expected:
            raise UserError(
                f"checkpoint {root} is corrupt: {name} does not match the checksum written"
                " when it was saved"
            )
