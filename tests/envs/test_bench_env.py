import json

from marl_alloc.bench.env import main


def test_bench_env_prints_one_json_line(capsys):
    assert main(["--num-envs", "4", "--steps", "300", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert result["bench"] == "env" and result["num_envs"] == 4
    assert (
        result["steps"] >= 300 and result["env_steps_per_s"] > 0 and result["placements_per_s"] > 0
    )


def test_bench_env_bad_override_is_one_line_error(capsys):
    assert main(["--num-envs", "2", "--steps", "10", "env.topology.hosts_per_leaf=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "hosts_per_leaf" in err and "\n" not in err
