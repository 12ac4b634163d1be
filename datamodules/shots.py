"""k-shot prompts: demonstrations drawn from the training split, prepended to an evaluation prompt."""

from collections.abc import Callable
from functools import cached_property

import datasets
import numpy as np
import pyarrow.compute as pc

from ftscale.datamodules.world import Example
from ftscale.errors import InputError


class Demonstrations:
    """Draws k training examples per evaluation example: seeded by (seed, position), same language, never itself.

    Same-language demonstrations keep a multilingual task's few-shot prompt in the example's language.
    """

    def __init__(self, pool: datasets.Dataset, k: int, seed: int, render_source: Callable[[Example], str]) -> None:
        self.pool = pool
        self.k = k
        self.seed = seed
        self.render_source = render_source

    @cached_property
    def by_language(self) -> dict[str, np.ndarray]:
        """The pool's row indices of each language (one vectorised pass over its language column)."""
        languages = self.pool.data.column("language")
        return {code: np.flatnonzero(pc.equal(languages, code)) for code in pc.unique(languages).to_pylist()}

    def draw(self, position: int, example: Example) -> list[Example]:
        """The k demonstrations of the example at `position` of its split."""
        group = self.by_language.get(example.language, np.empty(0, dtype=np.int64))
        rng = np.random.default_rng([self.seed, position])
        # A few spares cover copies of the example itself in the training split; a full shuffle covers the rest.
        for size in (min(len(group), self.k + 4), len(group)):
            chosen = [Example(**self.pool[int(group[i])]) for i in rng.choice(len(group), size=size, replace=False)]
            chosen = [demo for demo in chosen if demo != example][: self.k]
            if len(chosen) == self.k:
                return chosen
        raise InputError(
            f"data.num_shots={self.k} needs {self.k} training examples in language {example.language!r} other "
            f"than the evaluated one; the training split has {len(group)} in that language"
        )

    def prompt(self, position: int, example: Example) -> str:
        """The demonstrations (prompt and target, a blank line after each), then the example's own prompt."""
        shots = "".join(f"{self.render_source(demo)}{demo.target}\n\n" for demo in self.draw(position, example))
        return shots + self.render_source(example)
