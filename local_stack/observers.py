"""Observers of the local stack: objects told when a stack starts and stops, and able to watch
the output of the child processes that run its handlers.

An observer has ``started(stack)``, called once the stack is up, and ``stopping(stack)``, called
just before it stops (moto still answers). The tests' privacy scan is one: it registers itself in
``STACK_OBSERVERS``, and names a factory in ``OBSERVER_ENV`` ("module:factory") so that a child
process, which inherits the environment but not the registration, makes its own.
"""

import importlib
import os

STACK_OBSERVERS: list = []
OBSERVER_ENV = "LOCAL_STACK_OBSERVER"


def stack_observers() -> list:
    """The observers of this process, made from ``OBSERVER_ENV`` in a child that has none."""
    spec = os.environ.get(OBSERVER_ENV)
    if spec and not STACK_OBSERVERS:
        module, _, factory = spec.partition(":")
        STACK_OBSERVERS.append(getattr(importlib.import_module(module), factory)())
    return list(STACK_OBSERVERS)


def observe_this_process() -> None:
    """Called first in a child process that runs handlers (one local Lambda environment), so the
    session's observers, when one is configured, see its output as they see their own."""
    stack_observers()
