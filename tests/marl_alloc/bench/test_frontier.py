"""`python -m marl_alloc.bench frontier`: heuristics swept over packing targets."""

import json

from marl_alloc.bench.frontier import main


def test_the_sweep_scores_every_policy_at_every_target(capsys):
    args = ["--workload", "synthetic", "--policies", "best-fit", "pabfd", "--targets", "1.0"]
    args += ["2.0", "--episodes", "1", "--episode-tasks", "60", "--json"]
    args += ["env.hosts.cpu_overcommit_max=2.0"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [p["policy"] for p in result["points"]] == [
        "best-fit@1",
        "best-fit@2",
        "pabfd@1",
        "pabfd@2",
    ]
    assert result["knowledge"] == "estimate" and result["cpu_overcommit_max"] == 2.0
    assert all(p["energy_kwh"] > 0 and 0 <= p["slatah"] <= 1 for p in result["points"])


def test_a_bad_policy_or_load_is_exit_2_before_any_episode(capsys):
    assert main(["--policies", "best-fit", "--targets", "-1", "--json"]) == 2
    assert "positive" in capsys.readouterr().err
    assert main(["--policies", "nope", "--json"]) == 2
    assert "unknown policy 'nope'" in capsys.readouterr().err
    assert main(["--workload", "synthetic", "--loads", "0.5", "--json"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
