"""marl-alloc: hierarchical multi-agent RL for cloud resource allocation, Ape-X style on Ray."""

__version__ = "0.1.0"
