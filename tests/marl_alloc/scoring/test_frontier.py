"""Where a policy sits against a heuristic's frontier, on hand-made numbers."""

import numpy as np
import pytest

from marl_alloc.scoring.frontier import energy_at_sla, pareto, reductions, sla_at_energy

# A sweep: more packing, less energy, more SLATAH; (11, 0.04) is beaten by (10, 0.03).
ENERGY = np.array([15.0, 12.0, 10.0, 11.0])
SLA = np.array([0.01, 0.02, 0.03, 0.04])


def test_the_frontier_keeps_the_points_nothing_beats():
    energy, sla = pareto(ENERGY, SLA)
    np.testing.assert_array_equal(energy, [10.0, 12.0, 15.0])
    np.testing.assert_array_equal(sla, [0.03, 0.02, 0.01])


def test_a_policy_is_compared_on_the_frontier_by_linear_interpolation():
    # At 11 kWh the frontier is halfway from (10, 0.03) to (12, 0.02): SLATAH 0.025.
    assert sla_at_energy(ENERGY, SLA, 11.0) == pytest.approx(0.025)
    # At SLATAH 0.015 it is halfway from (12, 0.02) to (15, 0.01): 13.5 kWh.
    assert energy_at_sla(ENERGY, SLA, 0.015) == pytest.approx(13.5)
    sla_cut, energy_cut = reductions(ENERGY, SLA, policy_energy=11.0, policy_sla=0.015)
    assert sla_cut == pytest.approx(1 - 0.015 / 0.025)  # 40% fewer SLA violations
    assert energy_cut == pytest.approx(1 - 11.0 / 13.5)  # 18.5% less energy


def test_outside_the_frontier_nothing_is_claimed():
    assert np.isnan(sla_at_energy(ENERGY, SLA, 9.0))  # less energy than any setting reached
    assert np.isnan(energy_at_sla(ENERGY, SLA, 0.005))
    sla_cut, energy_cut = reductions(ENERGY, SLA, policy_energy=20.0, policy_sla=0.001)
    assert np.isnan(sla_cut) and np.isnan(energy_cut)
    # A frontier at zero SLATAH gives no ratio to reduce.
    sla_cut, _ = reductions(np.array([1.0, 2.0]), np.array([0.01, 0.0]), 2.0, 0.0)
    assert np.isnan(sla_cut)
