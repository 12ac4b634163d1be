"""The one exception type the engine raises for bad input."""

from ftscale.errors import InputError


class ScalingLawError(InputError):
    """Bad input to the scaling-law engine (values, columns, point counts); its message is one line."""
