"""``python -m optimizer.sweep INSTANCE --vary ... --out DIR``: the sweep command on its own
(the CLI mounts the same command as ``hashpivot sweep``)."""

from .command import app

app()
