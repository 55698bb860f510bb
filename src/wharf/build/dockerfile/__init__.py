"""The Dockerfile language, pure: text -> :class:`Dockerfile` (directives and typed
:class:`Instruction` values with their line numbers), and Docker's word expansion.

Parsing (:mod:`.parser`) keeps each instruction's arguments as written (continuations joined,
comments dropped, heredoc bodies attached); expansion of ``$V``/``${V:-x}``/``${V:+x}`` happens
later, in the evaluator, with the environment of the step (:mod:`.expand`), as in moby's
``frontend/dockerfile/parser`` and ``shell`` packages.
"""

from wharf.build.dockerfile.expand import Lexer
from wharf.build.dockerfile.parser import Dockerfile, Heredoc, Instruction, parse

__all__ = ["Dockerfile", "Heredoc", "Instruction", "Lexer", "parse"]
