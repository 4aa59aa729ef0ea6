"""The bottom floor every marl-alloc package may import; it imports nothing of ours.

    columns           batch column names shared by actors, replay and learner
    levels            LEVELS, the hierarchy's decision levels
    errors            UserError (one line, exit 2) and ConfigError
    pipeline_metrics  the Ray metrics env actors, replay shards and the learner record
    settings          the typed settings schema, one dataclass per Hydra group

Importing it loads neither torch nor Ray: replay shard processes restart on it quickly.
"""
