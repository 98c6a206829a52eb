"""The validation sets a training run chooses its epoch on: SemEval's held-out questions and the
analogy benchmarks' validation splits, each a :class:`Validator` (accuracy of a model, and each
question's outcome for the paired comparison of two epochs)."""
from __future__ import annotations

from ..data.paths import data_folder
from ..errors import UsageError

def validation_names(text):
    """--validation's comma-separated set names."""
    return [name for name in text.split(",") if name]


def build_validators(names, data_dir, batch_size):
    """name -> callable(model) -> accuracy: SemEval held-out questions and analogy validation splits."""
    from ..data.analogy import resolve_analogy
    from ..data.semeval import load_semeval, semeval_validation_questions

    root = data_folder(data_dir)
    validators = {}
    for name in names:  # a validation set that cannot be found is an error, never silently dropped
        if name == "semeval":
            if root is None:
                raise UsageError("validation set semeval needs the data folder: run relbert-download data, or pass "
                                 "--data-dir (--validation '' trains without validation)")
            try:
                dataset = semeval_validation_questions(load_semeval(root / "semeval2012_task2")[1])
            except FileNotFoundError as err:
                raise UsageError(f"validation set semeval: {err}")
        else:
            try:
                dataset = resolve_analogy(name, "valid", root)
            except FileNotFoundError as err:
                raise UsageError(f"validation set {name}: {err}")
        validators[f"{name}/valid"] = Validator(dataset, batch_size)
    return validators


class Validator:
    """Accuracy of a model on one validation set; ``questions`` weighs it in the weighted selection."""

    def __init__(self, dataset, batch_size):
        self.dataset, self.batch_size = dataset, batch_size
        self.questions = len(dataset.questions)

    def __call__(self, model):
        from ..evaluation.analogy import evaluate_analogy, question_outcomes

        result = evaluate_analogy(model, self.dataset, batch_size=self.batch_size)
        #: Each question's outcome in the last call (the paired comparison of two epochs).
        self.last_correct = question_outcomes(result, self.dataset)
        return result["accuracy"]
