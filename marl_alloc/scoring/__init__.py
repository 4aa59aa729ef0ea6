"""Scoring: the one path from policies and a workload to the figures every report shows.

    score, run_episode, make_env, Policy, METRIC_KEYS   -- finite episodes (episodes)
    workload_env, for_trained, with_trace, cell_env     -- the env a score runs in (environment)
    CampaignSettings, run_campaign                      -- `python -m marl_alloc.benchmark`:
        windows, episodes on worker processes (kept, resumable), bootstrap statistics,
        the frontier comparison and report.json / report.md / frontier.png (campaign)

`evaluate` and `benchmark` both score through `score` / `run_episode` in envs built here, so a
heuristic scores the same alone and as a checkpoint's baseline.
"""

from marl_alloc.scoring.campaign import CampaignSettings, run_campaign
from marl_alloc.scoring.environment import cell_env, for_trained, with_trace, workload_env
from marl_alloc.scoring.episodes import METRIC_KEYS, Policy, make_env, run_episode, score

__all__ = [
    "METRIC_KEYS",
    "CampaignSettings",
    "Policy",
    "cell_env",
    "for_trained",
    "make_env",
    "run_campaign",
    "run_episode",
    "score",
    "with_trace",
    "workload_env",
]
