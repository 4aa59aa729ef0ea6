"""A restarted shard process comes back fast only if importing it does not load RLlib."""

import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def test_shard_actor_imports_without_rllib():
    code = "import sys, replay.shard_actor; print('ray.rllib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_column_names_are_rllibs():
    from ray.rllib.core.columns import Columns

    from marl_alloc.floor import columns as C

    assert (C.OBS, C.NEXT_OBS, C.ACTIONS, C.REWARDS, C.TERMINATEDS) == (
        Columns.OBS,
        Columns.NEXT_OBS,
        Columns.ACTIONS,
        Columns.REWARDS,
        Columns.TERMINATEDS,
    )
