"""``python -m relbert.cli_embed`` = ``relbert-embed`` (for ``torchrun -m`` and ``python -m``)."""
from .cli import embed

if __name__ == "__main__":
    embed()
