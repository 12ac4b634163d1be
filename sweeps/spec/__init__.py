"""Sweep specs: a YAML file checked against its schema, resolved into models, methods and a recipe, that expands
into points with stable ids.

schema.py: the file's fields as dataclasses, read by jsonargparse; models.py: the model and pretraining axes (ladder,
hub, local directories); methods.py: method classes and the PET-size axis; recipe.py: recipe, transfer, retention,
held-out rules; sweep_spec.py: `SweepSpec` and `load_spec`, which ties them together.
"""

from ftscale.sweeps.points import Point, point_cli_args, point_dir
from ftscale.sweeps.spec.checks import read_yaml
from ftscale.sweeps.spec.recipe import held_out_rules
from ftscale.sweeps.spec.schema import AXES, FIELDS, SpecFile
from ftscale.sweeps.spec.sweep_spec import SweepSpec, load_spec

__all__ = [
    "AXES", "FIELDS", "Point", "SpecFile", "SweepSpec", "held_out_rules", "load_spec", "point_cli_args", "point_dir",
    "read_yaml",
]  # fmt: skip
