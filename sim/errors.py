"""The project's exceptions: one base, one subclass per layer.

The command line turns any :class:`SimError` into a message and exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AllRunsFailed",
    "BatchError",
    "BatchInterrupted",
    "Problem",
    "ResultsError",
    "RunError",
    "ScenarioError",
    "SimError",
]


class SimError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in a scenario file: ``FILE:LINE:COL: path: message``."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(SimError):
    """A scenario file (or a value given for one of its parameters) is invalid.

    ``problems`` lists every located problem found, in file order.
    """

    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            self.problems: list[Problem] = []
            text = problems
        else:
            self.problems = sorted(problems)
            text = "\n".join(str(p) for p in self.problems)
        super().__init__(text)


class RunError(SimError):
    """A run failed at run time: a bad computed value, a zero-delay loop, an event cap."""


class ResultsError(SimError):
    """A results folder cannot be written or read as asked."""


class BatchError(SimError):
    """A batch was asked for with arguments that cannot work (runs, seed, workers...)."""


class AllRunsFailed(BatchError):
    """Every run of a batch failed: there is nothing to score or summarise."""


class BatchInterrupted(SimError):
    """A batch was interrupted; its completed chunks are kept on disk."""
