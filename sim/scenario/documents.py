"""Our other YAML files (sweep files, observation files): read with the scenarios' safe
reader into a pydantic model, every problem located."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from sim.errors import Problem, ScenarioError
from sim.scenario.loader import read_document, validation_problems
from sim.scenario.yamlfile import MarkedDict

__all__ = ["read_model"]

M = TypeVar("M", bound=BaseModel)


def read_model(path: str | os.PathLike[str], model: type[M], keys: frozenset[str],
               what: str) -> tuple[M, MarkedDict]:
    """The file at ``path`` (a ``what`` file: a mapping with one of ``keys``) as ``model``,
    and its parsed tree (to locate later problems); :class:`ScenarioError` otherwise."""
    file = Path(path)
    problems: list[Problem] = []
    tree = read_document(file, str(file), keys, problems, what=what)
    if tree is None or problems:
        raise ScenarioError(problems)
    try:
        return model.model_validate(dict(tree)), tree
    except ValidationError as exc:
        raise ScenarioError(validation_problems(tree, exc, str(file), model)) from None
