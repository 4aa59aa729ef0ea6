"""--policies: heuristic names, packing targets and sweeps."""

import pytest

from envs import HEURISTICS
from marl_alloc.floor.errors import UserError
from marl_alloc.scoring.contenders import default_sweep, heuristic_specs


def test_sweeps_expand_in_order_each_once():
    specs = heuristic_specs(["pabfd@1.0,1.5,2", "best-fit@3", "pabfd@1.5", "random"], cap=3.0)
    assert specs == ["pabfd@1", "pabfd@1.5", "pabfd@2", "best-fit@3", "random"]


def test_by_default_every_heuristic_sweeps_up_to_the_hosts_cap():
    specs = heuristic_specs(None, cap=3.0)
    assert "random" in specs and "pabfd@3" in specs
    assert len(specs) == 1 + 4 * (len(HEURISTICS) - 1)  # random takes no target
    assert default_sweep(1.0) == [1.0]  # an env without overcommit has one setting
    assert heuristic_specs(["best-fit"], cap=2.0) == ["best-fit@1", "best-fit@1.5", "best-fit@2"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("nope", "unknown policy 'nope'"),
        ("nope@1.5", "unknown policy 'nope'"),
        ("pabfd@", "positive number"),
        ("pabfd@1,,2", "positive number"),
        ("pabfd@fast", "positive number"),
        ("pabfd@-1", "positive number"),
        ("random@1.5", "takes no packing target"),
        ("best-fit@4", "cpu_overcommit_max=3"),
    ],
)
def test_bad_specs_are_one_line_naming_the_option(text, fragment):
    with pytest.raises(UserError) as err:
        heuristic_specs([text], cap=3.0)
    message = str(err.value)
    assert message.startswith("--policies: ") and fragment in message and "\n" not in message
