"""lossdemo: how the choice of classification loss shapes training, measured and reproducible.

Stages, each a small module passing plain data to the next:
``losses`` → ``data`` (+ ``corruption``) → ``models`` → ``train`` → ``results`` (JSON) →
``stats`` / ``plots`` → ``reproduce`` (the command line).
"""

__version__ = "0.1.0"
