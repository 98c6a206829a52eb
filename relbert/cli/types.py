"""Option types that check numbers where they enter: no NaN or infinity, and each within the
range that keeps the work finite (click's ``FloatRange`` lets ``nan`` through: every comparison
with it is false)."""
from __future__ import annotations

import math
from typing import Optional

import click

from ..offsets import MAX_OFFSET_WEIGHT

#: Seeds: what numpy's and scikit-learn's random states take.
SEED = click.IntRange(0, 2**32 - 1)


class Finite(click.FloatRange):
    """A finite float, optionally within ``[min, max]`` (open ends as ``click.FloatRange``)."""

    name = "float"

    def convert(self, value, param: Optional[click.Parameter], ctx: Optional[click.Context]):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


OFFSET_WEIGHT = Finite(min=0, max=MAX_OFFSET_WEIGHT)
POSITIVE = Finite(min=0, min_open=True)
NON_NEGATIVE = Finite(min=0)
