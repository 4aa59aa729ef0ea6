"""A heuristic's energy-SLA frontier and where a policy sits against it.

A heuristic swept over its packing targets gives (energy, SLATAH) points; its frontier is the
points no other point beats on both, joined by straight lines (energy up, SLATAH down). A policy
at (E, S) is compared at equal energy (the frontier's SLATAH at E) and at equal SLATAH (the
frontier's energy at S). Outside the frontier's range the comparison is undefined (NaN): a
frontier says nothing about energies its heuristic never reached.
"""

import numpy as np


def pareto(energy: np.ndarray, sla: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The efficient points, by rising energy (and so falling SLATAH)."""
    order = np.lexsort((sla, energy))
    keep, best = [], np.inf
    for i in order:
        if sla[i] < best:
            keep.append(i)
            best = sla[i]
    keep = np.asarray(keep, np.int64)
    return np.asarray(energy, np.float64)[keep], np.asarray(sla, np.float64)[keep]


def sla_at_energy(energy: np.ndarray, sla: np.ndarray, at: float) -> float:
    """The frontier's SLATAH at energy `at` (NaN outside its energies)."""
    e, s = pareto(energy, sla)
    if not e[0] <= at <= e[-1]:
        return np.nan
    return float(np.interp(at, e, s))


def energy_at_sla(energy: np.ndarray, sla: np.ndarray, at: float) -> float:
    """The frontier's energy at SLATAH `at` (NaN outside its SLATAHs)."""
    e, s = pareto(energy, sla)
    if not s[-1] <= at <= s[0]:
        return np.nan
    return float(np.interp(at, s[::-1], e[::-1]))


def reductions(
    energy: np.ndarray, sla: np.ndarray, policy_energy: float, policy_sla: float
) -> tuple[float, float]:
    """(SLATAH reduction at equal energy, energy reduction at equal SLATAH) of a policy point
    against the frontier of the (energy, sla) points, as fractions (0.5 = half); NaN where the
    policy lies outside the frontier's range or the frontier's SLATAH there is zero."""
    frontier_sla = sla_at_energy(energy, sla, policy_energy)
    frontier_energy = energy_at_sla(energy, sla, policy_sla)
    sla_cut = 1.0 - policy_sla / frontier_sla if frontier_sla > 0 else np.nan
    energy_cut = 1.0 - policy_energy / frontier_energy if frontier_energy > 0 else np.nan
    return sla_cut, energy_cut
