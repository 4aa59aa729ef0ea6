import numpy as np

from envs import ENV_NAME, DatacenterMultiAgentEnv, register_envs


def play(env, seed):
    obs, _ = env.reset(seed=seed)
    rewards, steps = {}, 0
    while True:
        ((agent, agent_obs),) = obs.items()
        assert env.observation_spaces[agent].contains(agent_obs)
        action = int(np.flatnonzero(agent_obs["action_mask"])[0])
        obs, reward, terminated, truncated, _ = env.step({agent: action})
        steps += 1
        for a, r in reward.items():
            rewards[a] = rewards.get(a, 0.0) + r
        if terminated["__all__"]:
            return obs, rewards, steps


def test_turn_based_episode_of_episode_tasks(small_config):
    small_config["episode_tasks"] = 15
    small_config["workload"]["deferrable_fraction"] = 0.0
    env = DatacenterMultiAgentEnv({"env": small_config, "seed": 0})
    assert env.possible_agents[0] == "cluster_0" and len(env.possible_agents) == 1 + 2 + 4
    final_obs, rewards, steps = play(env, seed=1)
    assert steps == 3 * 15
    assert set(final_obs) == {"cluster_0", "rack_0", "leaf_0"}
    assert all(r < 0 for r in rewards.values())


def test_rllib_accepts_the_env(small_config):
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    check_multiagent_environments(DatacenterMultiAgentEnv({"env": small_config, "seed": 0}))


def test_registered_with_tune(small_config):
    from ray.tune.registry import ENV_CREATOR, _global_registry

    register_envs()
    creator = _global_registry.get(ENV_CREATOR, ENV_NAME)
    env = creator({"env": small_config, "seed": 2})
    assert isinstance(env, DatacenterMultiAgentEnv)
