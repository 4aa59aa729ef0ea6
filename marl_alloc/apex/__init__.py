"""The Ape-X orchestration: RLlib Algorithm + config, where its pieces run, and their metrics.

ApexAlgorithm and ApexConfig load RLlib (seconds), so they are imported only when asked for;
replay shard actors import `marl_alloc.apex.pipeline_metrics` without paying for it.
"""

_ALGORITHM = ("ApexAlgorithm", "ApexConfig")


def __getattr__(name: str):
    if name in _ALGORITHM:
        from marl_alloc.apex import algorithm

        return getattr(algorithm, name)
    raise AttributeError(f"module 'marl_alloc.apex' has no attribute {name!r}")


__all__ = ["ApexAlgorithm", "ApexConfig"]
