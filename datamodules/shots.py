"""k-shot prompts: demonstrations drawn from the training split, prepended to an evaluation prompt."""

from collections.abc import Callable, Sequence
from functools import cached_property

import numpy as np

from ftscale.datamodules.world import Example


class Demonstrations:
    """Draws k training examples per evaluation example: seeded by (seed, position), same language, never itself.

    Same-language demonstrations keep a multilingual task's few-shot prompt in the example's language.
    """

    def __init__(self, pool: Sequence[Example], k: int, seed: int, render_source: Callable[[Example], str]) -> None:
        self.pool = pool
        self.k = k
        self.seed = seed
        self.render_source = render_source

    @cached_property
    def by_language(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for index, example in enumerate(self.pool):
            groups.setdefault(example.language, []).append(index)
        return groups

    def draw(self, position: int, example: Example) -> list[Example]:
        """The k demonstrations of the example at `position` of its split."""
        group = self.by_language.get(example.language, [])
        rng = np.random.default_rng([self.seed, position])
        # A few spares cover copies of the example itself in the training split; a full shuffle covers the rest.
        for size in (min(len(group), self.k + 4), len(group)):
            chosen = [self.pool[group[i]] for i in rng.choice(len(group), size=size, replace=False)]
            chosen = [demo for demo in chosen if demo != example][: self.k]
            if len(chosen) == self.k:
                return chosen
        raise ValueError(
            f"data.num_shots={self.k} needs {self.k} training examples in language {example.language!r} other "
            f"than the evaluated one; the training split has {len(group)} in that language"
        )

    def prompt(self, position: int, example: Example) -> str:
        """The demonstrations (prompt and target, a blank line after each), then the example's own prompt."""
        shots = "".join(f"{self.render_source(demo)}{demo.target}\n\n" for demo in self.draw(position, example))
        return shots + self.render_source(example)
