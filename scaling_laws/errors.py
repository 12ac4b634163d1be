"""The one exception type the engine raises for bad input."""


class ScalingLawError(ValueError):
    """Bad input to the scaling-law engine (values, columns, point counts); its message is one line."""
