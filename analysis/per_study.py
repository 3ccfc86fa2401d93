"""A result several report sections use, computed once per study: a function of the
study's Context (analysis.section) whose result is kept beside the function, keyed by the
Context and its arguments, and let go with the Context."""

import functools
import inspect
import weakref
from collections.abc import Callable


def once_per_study(function: Callable) -> Callable:
    """`function(ctx, *args)`, a result several sections use, computed once per study
    (Context) and arguments: kept beside the function, not on the Context, and let go
    with the Context."""
    results: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    signature = inspect.signature(function)

    @functools.wraps(function)
    def computed_once(ctx, *args, **kwargs):
        call = signature.bind(ctx, *args, **kwargs)
        call.apply_defaults()
        key = call.args[1:]
        known = results.setdefault(ctx, {})
        if key not in known:
            known[key] = function(*call.args)
        return known[key]

    return computed_once
