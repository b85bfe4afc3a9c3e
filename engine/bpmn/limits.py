"""Resource limits on user code: scripts, conditions, correlation and timer expressions, DMN cells.

Designers write this code in the browser, and one careless loop must not stop the service. Three fences:

1. **A budget per workflow step** (:class:`Budget`): wall time spent in user code (``Settings.scripts.time_budget``, 1 s by
   default) and a number of traced operations, shared by everything the step evaluates. While user code runs,
   a trace function counts its line and call events, compares the monotonic time every
   ``_TIME_CHECK_EVERY`` events, and raises :class:`ResourceLimitError` inside the user's frame once the budget
   is spent — and again on every later event, so an ``except`` in the script cannot swallow it.
2. **Single costly operations** that run in C, where no trace event fires (``'a' * 10**9``, ``10 ** 10 ** 9``,
   ``'x'.ljust(10**9)``, ``'%1000000000d' % 1``, ``f"{x:>1000000000}"``, ``sum(range(10**12))``): the
   sandbox compiler (``engine.bpmn.scripting``) routes ``+``, ``*``, ``**``, ``<<``, ``%`` and formatted values
   through :func:`binop` and :func:`format_value`, and the builtins and string methods that amplify their
   input through checked versions. Each refuses a result larger than the limits before it is built.
3. **Memory growth** of the process while the step's user code runs, read from ``/proc/self/statm`` every
   ``_MEMORY_CHECK_EVERY`` events (a list doubled in a loop); and, as a backstop for the whole worker,
   :func:`cap_process_memory` (``Settings.core.worker_memory_mb``, applied by ``careflow serve`` and
   ``careflow scheduler``).

A refused operation raises :class:`ResourceLimitError`; SpiffWorkflow marks the task ERROR and the runtime puts
the instance into ``error`` with the message (an incident a supervisor sees), in a step that holds no
write lock while the code runs (``engine.runtime.step``).
"""

from __future__ import annotations

import contextvars
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from types import FrameType
from typing import Any

_TIME_CHECK_EVERY = 256
_MEMORY_CHECK_EVERY = 4096
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ResourceLimitError(Exception):
    """User code went past a limit (time, operations, memory or the size of one result)."""


@dataclass(frozen=True)
class Limits:
    seconds: float = 1.0  # wall time of all user code in one step
    operations: int = 5_000_000  # traced line and call events in one step
    memory_mb: int = 256  # growth of the process's resident memory while the step's code runs
    max_chars: int = 1_000_000  # characters of one string built by *, %, padding or joining
    max_items: int = 1_000_000  # items of one sequence built by * or range()
    max_int_bits: int = 100_000  # bits of one integer built by ** , * or <<


DEFAULT = Limits()


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):  # not Linux: the memory fence is off, the others hold
        return 0


class Budget:
    """What one step's user code may still spend. Not shared between threads."""

    def __init__(self, limits: Limits = DEFAULT) -> None:
        self.limits = limits
        self.spent = 0.0  # seconds of user code so far (only the time inside ``running`` counts)
        self.deadline = time.monotonic() + limits.seconds  # while running: when the rest of the budget ends
        self.operations_left = limits.operations
        self.exceeded: str | None = None
        self._baseline: int | None = None
        self._events = 0

    def _tick(self) -> None:
        if self.exceeded is not None:
            raise ResourceLimitError(self.exceeded)
        self._events += 1
        self.operations_left -= 1
        if self.operations_left < 0:
            self._exceed(f"the script ran more than {self.limits.operations:,} operations in one step")
        if self._events % _TIME_CHECK_EVERY == 0:
            if time.monotonic() > self.deadline:
                self._exceed(f"the script ran longer than {self.limits.seconds:g} s in one step")
            # Let the process's other threads (requests of other users) have the interpreter: a busy script would
            # otherwise keep it for whole switch intervals between their every I/O wait.
            time.sleep(0)
        if self._events % _MEMORY_CHECK_EVERY == 0 and self._baseline:
            grown = (_resident_bytes() - self._baseline) // (1024 * 1024)
            if grown > self.limits.memory_mb:
                self._exceed(f"the script took more than {self.limits.memory_mb} MB of memory")

    def _exceed(self, message: str) -> None:
        self.exceeded = f"{message} (limit of the process sandbox)"
        raise ResourceLimitError(self.exceeded)

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event in ("call", "line"):
            self._tick()
        return self.trace

    @contextmanager
    def running(self) -> Iterator[Budget]:
        """Trace the user code run inside the block (this thread only)."""
        if self.exceeded is not None:
            raise ResourceLimitError(self.exceeded)
        if self.spent >= self.limits.seconds:
            self._exceed(f"the script ran longer than {self.limits.seconds:g} s in one step")
        if self._baseline is None:
            self._baseline = _resident_bytes()
        nested = _ACTIVE.get() is self  # an expression evaluated from inside a script: already traced and timed
        started = time.monotonic()
        if not nested:
            self.deadline = started + self.limits.seconds - self.spent
        previous = sys.gettrace()
        token = _ACTIVE.set(self)
        sys.settrace(self.trace)
        try:
            yield self
        finally:
            sys.settrace(previous)
            _ACTIVE.reset(token)
            if not nested:
                self.spent += time.monotonic() - started


_STEP: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("careflow_step_budget", default=None)
_ACTIVE: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("careflow_running_budget", default=None)


@contextmanager
def step_budget(limits: Limits = DEFAULT) -> Iterator[Budget]:
    """Give the code evaluated inside the block one shared budget (a workflow step)."""
    budget = Budget(limits)
    token = _STEP.set(budget)
    try:
        yield budget
    finally:
        _STEP.reset(token)


@contextmanager
def spending(budget: Budget) -> Iterator[Budget]:
    """Evaluate inside the block on ``budget`` (a step that runs in several phases keeps one budget)."""
    token = _STEP.set(budget)
    try:
        yield budget
    finally:
        _STEP.reset(token)


def current_budget() -> Budget:
    """The budget of the step in progress, or a fresh one for code evaluated outside a step."""
    return _STEP.get() or Budget()


def reraise_exceeded() -> None:
    """Raise again if the running step's budget is spent (user code's except and finally blocks call this first)."""
    budget = _ACTIVE.get()
    if budget is not None and budget.exceeded is not None:
        raise ResourceLimitError(budget.exceeded)


def _limits() -> Limits:
    budget = _ACTIVE.get() or _STEP.get()
    return budget.limits if budget is not None else DEFAULT


def _refuse(what: str) -> None:
    raise ResourceLimitError(f"{what} (limit of the process sandbox)")


def _bits(value: int) -> int:
    return abs(value).bit_length()


def _check_repeat(sequence: Any, times: Any) -> None:
    if not isinstance(times, int) or isinstance(times, bool):
        return
    limits = _limits()
    if isinstance(sequence, (str, bytes, bytearray)):
        if len(sequence) * max(times, 0) > limits.max_chars:
            _refuse(f"a string of more than {limits.max_chars:,} characters")
    elif isinstance(sequence, (list, tuple)) and len(sequence) * max(times, 0) > limits.max_items:
        _refuse(f"a list of more than {limits.max_items:,} items")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent * math.log2(abs(base)) > _limits().max_int_bits:
            _refuse(f"a number of more than {_limits().max_int_bits:,} bits")


_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_SPEC_WIDTH = re.compile(r"(\d+)")


def _check_widths(numbers: Iterable[str]) -> None:
    limit = _limits().max_chars
    for number in numbers:
        if number == "*":
            _refuse("a '*' width in string formatting")
        if number and len(number) > 9 or (number.isdigit() and int(number) > limit):
            _refuse(f"a string of more than {limit:,} characters")


def binop(op: str, left: Any, right: Any) -> Any:
    """``left <op> right`` for the operators that can build a huge result in one C call."""
    limits = _limits()
    if op == "+":
        if isinstance(left, (str, bytes, bytearray)) and isinstance(right, type(left)):
            if len(left) + len(right) > limits.max_chars:
                _refuse(f"a string of more than {limits.max_chars:,} characters")
        elif isinstance(left, (list, tuple)) and isinstance(right, type(left)):
            if len(left) + len(right) > limits.max_items:
                _refuse(f"a list of more than {limits.max_items:,} items")
        return left + right
    if op == "*":
        if isinstance(left, int) and isinstance(right, int):
            if _bits(left) + _bits(right) > limits.max_int_bits:
                _refuse(f"a number of more than {limits.max_int_bits:,} bits")
        else:
            _check_repeat(left, right)
            _check_repeat(right, left)
        return left * right
    if op == "**":
        _check_power(left, right)
        return left**right
    if op == "<<":
        if isinstance(left, int) and isinstance(right, int) and left and _bits(left) + max(right, 0) > limits.max_int_bits:
            _refuse(f"a number of more than {limits.max_int_bits:,} bits")
        return left << right
    if op == "%":
        if isinstance(left, (str, bytes)):
            _check_widths(n for match in _PERCENT_WIDTH.finditer(str(left)) for n in match.groups() if n)
        return left % right
    raise ValueError(f"no guard for operator {op}")


def format_value(value: Any, spec: str, conversion: int = -1) -> str:
    """An f-string's ``{value!conversion:spec}``, with the width and precision in ``spec`` checked first."""
    _check_widths(_SPEC_WIDTH.findall(spec))
    if conversion == ord("r"):
        value = repr(value)
    elif conversion == ord("s"):
        value = str(value)
    elif conversion == ord("a"):
        value = ascii(value)
    return format(value, spec)


def checked_range(*args: int) -> range:
    result = range(*args)
    if len(result) > _limits().max_items:
        _refuse(f"a range of more than {_limits().max_items:,} numbers")
    return result


def checked_pow(base: Any, exponent: Any, modulo: Any = None) -> Any:
    if modulo is None:
        _check_power(base, exponent)
        return pow(base, exponent)
    return pow(base, exponent, modulo)


def checked_sum(iterable: Iterable[Any], start: Any = 0) -> Any:
    """``sum`` for numbers only: adding lists or strings in one C call could build anything."""
    if not isinstance(start, (int, float, complex, Decimal)):
        raise TypeError("sum() adds numbers only in process scripts")
    total = start
    for item in iterable:
        total = total + item
    return total


def _padding(method: str) -> Any:
    def padded(text: Any, width: Any, *rest: Any) -> Any:
        if isinstance(width, int) and width > _limits().max_chars:
            _refuse(f"a string of more than {_limits().max_chars:,} characters")
        return getattr(text, method)(width, *rest)

    return padded


def _expandtabs(text: Any, tabsize: int = 8) -> Any:
    if isinstance(tabsize, int) and tabsize * max(text.count("\t" if isinstance(text, str) else b"\t"), 1) > _limits().max_chars:
        _refuse(f"a string of more than {_limits().max_chars:,} characters")
    return text.expandtabs(tabsize)


def _join(separator: Any, items: Iterable[Any]) -> Any:
    items = list(items)
    size = len(separator) * max(len(items) - 1, 0) + sum(len(i) for i in items if isinstance(i, (str, bytes)))
    if size > _limits().max_chars:
        _refuse(f"a string of more than {_limits().max_chars:,} characters")
    return separator.join(items)


def _replace(text: Any, old: Any, new: Any, count: int = -1) -> Any:
    if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)) and len(new) > len(old):
        hits = text.count(old) if old else len(text) + 1
        if count >= 0:
            hits = min(hits, count)
        if len(text) + hits * (len(new) - len(old)) > _limits().max_chars:
            _refuse(f"a string of more than {_limits().max_chars:,} characters")
    return text.replace(old, new, count)


def _translate(text: Any, table: Any) -> Any:
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, (str, bytes))), default=1)
        if len(text) * longest > _limits().max_chars:
            _refuse(f"a string of more than {_limits().max_chars:,} characters")
    return text.translate(table)


STRING_METHODS: dict[str, Any] = {
    "ljust": _padding("ljust"), "rjust": _padding("rjust"), "center": _padding("center"), "zfill": _padding("zfill"),
    "expandtabs": _expandtabs, "join": _join, "replace": _replace, "translate": _translate,
}


def guard_method(owner: Any, name: str, value: Any) -> Any:
    """The checked version of an amplifying ``str``/``bytes`` method, bound like the original."""
    checked = STRING_METHODS.get(name)
    if checked is None:
        return value
    if isinstance(owner, (str, bytes, bytearray)):
        return lambda *args: checked(owner, *args)
    if owner in (str, bytes, bytearray):
        return checked
    return value


def cap_process_memory(megabytes: int) -> bool:
    """The backstop under the per-step fences: the process's data segment (heap and private mappings) may not grow
    past ``megabytes`` (``RLIMIT_DATA``, inherited by the worker processes started afterwards); an allocation past
    it raises MemoryError in the step that asked, which fails that instance. 0 leaves the limit as it is.
    False where the platform has no such limit."""
    if megabytes <= 0:
        return True
    try:
        import resource
    except ImportError:  # not on this platform
        return False
    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    return True
