"""Which held-out synthetic episodes are test data and which are for choosing designs.

The learning test (tests/marl_alloc/test_learning.py) scores on TEST_EVAL_SEED's episodes; a
bench that compares settings must validate on other episodes, or the test would judge a design
that was picked on it.
"""

import argparse

TEST_EVAL_SEED = 777  # the learning test's held-out episodes
VALIDATION_EVAL_SEED = 4242  # the benches' default validation episodes


def refuse_test_episodes(parser: argparse.ArgumentParser, eval_seed: int) -> None:
    """Exit 2 (one line naming the flag) when a bench is asked to score on the test's episodes."""
    if eval_seed == TEST_EVAL_SEED:
        parser.error(
            f"--eval-seed {TEST_EVAL_SEED}: those are the learning test's episodes (test data); "
            "validate on another seed"
        )
