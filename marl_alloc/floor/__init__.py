"""The bottom floor every marl-alloc package may import; it imports nothing of ours.

    marl_alloc.floor.columns           batch column names shared by actors, replay and learner
    marl_alloc.floor.checksums         checkpoint checksums, written at save, verified at load
    marl_alloc.floor.levels            LEVELS, the hierarchy's decision levels
    marl_alloc.floor.errors            UserError (one line, exit 2) and ConfigError
    marl_alloc.floor.paths             PROJECT_ROOT, CONF_DIR, resolve_path
    marl_alloc.floor.pipeline_metrics  the Ray metrics env actors, shards and the learner record
    marl_alloc.floor.strict_json       strict JSON writing (no NaN or Infinity) for every output
    marl_alloc.floor.settings          the typed settings schema, one dataclass per Hydra group
                                       (.compose: Hydra composition with those schemas)

Importing it loads neither torch nor Ray: replay shard processes restart on it quickly.
"""
