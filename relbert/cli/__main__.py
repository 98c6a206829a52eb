"""``python -m relbert.cli`` = ``relbert-embed``."""
from .embed_command import embed

embed()
