"""The learner's process reuses freed tensor memory instead of faulting fresh pages in."""

import resource
import sys

import pytest
import torch

from learners.freed_memory import retain_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_tensors_freed_and_allocated_again_reuse_their_pages():
    assert retain_freed_memory()
    for _ in range(3):  # the heap grows to the loop's peak once
        torch.ones(2**20) + torch.ones(2**20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        torch.ones(2**20) + torch.ones(2**20)  # three 4 MiB tensors each time
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # glibc's defaults hand each 4 MiB block back and fault its 1,024 pages in again.
    assert faults < 500
