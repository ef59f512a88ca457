"""The predict functions an evaluator uses, by name, from the objective's `predictors()`.

Evaluators, extractors and the CLIs see a model only through these pure functions of
`(variables, ...)` (names and signatures: gendl.objectives.base.Objective.predictors), so a
model family gets an evaluator by providing what it needs, and a config that asks for an
evaluator its objective cannot serve fails with one message naming the missing function.
"""

import dataclasses

from gendl.config import ConfigError


@dataclasses.dataclass(frozen=True)
class Predict:
    functions: dict  # name -> pure function of (variables, ...)
    objective: str  # config.objective.name, for messages
    num_classes: int | None  # conditional generators: the classes `sample` takes; else None

    def __contains__(self, name):
        return name in self.functions

    def require(self, user: str, *names: str) -> tuple:
        """The functions `names`, or a ConfigError naming `user` (an evaluator or a CLI)."""
        missing = [n for n in names if n not in self.functions]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            self._fail(user, f"function{plural} {', '.join(repr(n) for n in missing)}")
        return tuple(self.functions[n] for n in names)

    def require_one_of(self, user: str, *names: str) -> None:
        if not any(n in self.functions for n in names):
            self._fail(user, f"function {' or '.join(repr(n) for n in names)}")

    def _fail(self, user, what):
        raise ConfigError(
            f"The {user} needs the predict {what}, which the {self.objective!r} objective does "
            f"not provide (it provides: {', '.join(sorted(self.functions)) or 'none'}). Remove "
            "that evaluator from config.evals, or use a model family that has it."
        )


def of(exp) -> Predict:
    """The predict functions of an experiment's objective."""
    obj = exp.objective
    return Predict(
        functions=dict(obj.predictors()),
        objective=str(exp.config.objective.name),
        num_classes=int(exp.config.model.num_classes) if obj.conditional else None,
    )


DIRECTIONS = ("a2b", "b2a")


def translator(exp, direction: str, user: str):
    """The predict function translating in `direction` ("a2b" or "b2a";
    "": the model's default, config.objective.direction, else "a2b").

    Unpaired translators provide one per direction ("translate_a2b", "translate_b2a"); a
    model trained for one direction (pix2pix) provides "translate" for
    config.objective.direction only and refuses the other with a ConfigError."""
    trained = str(exp.config.objective.get("direction", "a2b"))
    direction = direction or trained
    if direction not in DIRECTIONS:
        raise ConfigError(
            f"The {user} was asked for direction {direction!r}; use one of "
            f"{', '.join(DIRECTIONS)} (translate feature/domain 'a' to 'b', or 'b' to 'a')."
        )
    predict = of(exp)
    if f"translate_{direction}" in predict:
        return predict.functions[f"translate_{direction}"]
    if direction != trained and "translate" in predict:
        raise ConfigError(
            f"The {user} was asked to translate {direction}, but the run was trained to "
            f"translate {trained} ({predict.objective} learns one direction). Train a model for "
            f"{direction} (--config.objective.direction={direction}) and use its workdir, or "
            "ask for the trained direction."
        )
    (translate,) = predict.require(user, "translate")
    return translate
