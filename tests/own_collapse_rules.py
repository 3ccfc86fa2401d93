"""Collapse rules of one's own, as a user's module names them in the report settings
(collapse.rule, update_collapse.rule): one pair that never calls anything a collapse, and
one function of the wrong signature."""

import numpy as np

from analysis.collapse import Collapse, update_outcomes


def never_collapses(returns, rule, initial, history):
    return Collapse(False)


def no_update_collapses(returns, initial, rule, updates_ahead, history):
    """The built-in updates at risk, none of them followed by a collapse."""
    at_risk, _ = update_outcomes(returns, initial, rule, updates_ahead, history)
    return at_risk, np.zeros_like(at_risk)


def wrong_signature(returns, rule):
    return Collapse(False)
