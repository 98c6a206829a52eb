"""``python -m relbert.cli_train`` = ``relbert-train`` (for ``torchrun -m`` and ``python -m``)."""
from .cli import train

if __name__ == "__main__":
    train()
