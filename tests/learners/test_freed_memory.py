"""The learner's process reuses freed tensor memory instead of faulting fresh pages in."""

import os
import subprocess
import sys

import pytest

# Allocates and frees the same 4 MiB tensors as an update does its activations, then prints the
# page faults of 20 such rounds. Run in a fresh process: the count is the whole process's, and
# threads of earlier tests (Ray's driver) would fault pages of their own.
ROUNDS = """
import resource, sys, torch
torch.set_num_threads(1)  # one malloc arena: the learner steps on one thread per update
from learners.freed_memory import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
def update():
    xs = [torch.ones(2**20) for _ in range(6)]
    return float(sum(xs)[0])
for _ in range(3):  # the heap grows to the rounds' peak once
    update()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    update()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str, env: dict[str, str]) -> int:
    out = subprocess.run(
        [sys.executable, "-c", ROUNDS, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return int(out.stdout.split()[-1])


@pytest.mark.slow  # fresh interpreters importing torch: ~9 s
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_tensors_freed_and_allocated_again_reuse_their_pages():
    # glibc starts at a 128 KiB mmap threshold and then adapts it to what the process frees, so
    # whether it faults depends on the order of frees; pinned there, every 4 MiB block is mapped
    # and faulted in afresh each round (~6,000 pages), unless retain_freed_memory raises it.
    pinned = {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
    assert _faults("defaults", pinned) > 50_000
    retained = _faults("retain", pinned)
    assert retained < 2_500  # at most a block or two of heap growth in 20 rounds
