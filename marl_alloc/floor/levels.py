"""The hierarchy's decision levels, top down: a cluster agent picks a rack (or defers), a rack
agent a leaf group, a leaf agent a host."""

LEVELS = ("cluster", "rack", "leaf")
