"""One progress display for the CLI, the training loop and the ocean ensembles.

On an interactive terminal (or in Jupyter) a :mod:`rich.progress` bar animates. Anywhere else
(a log file, a pipe, CI) the display prints plain lines instead of carriage-return frames: one
when a stage starts, at most one every ``interval`` seconds while it runs, and one when it ends.
A display opened while another one is on the terminal becomes a row of that display.

A display is closed by its ``with`` block, or, for :func:`track`, when the loop ends. When a
loop body raises while a variable still holds the :func:`track` generator (a wrapped iterable
passed to a function), the generator stays suspended until it is garbage collected;
:func:`close_all` closes such displays at once (the CLI calls it when a command ends).

Examples
--------
>>> from ecocube._progress import progress, track
>>> for day in track(range(3), "simulate", unit="days", enabled=False):
...     pass
>>> with progress("epochs", total=2, unit="epochs", enabled=False) as bar:
...     bar.advance(train=0.5)
...     bar.advance(train=0.4)
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable, Iterator, Sized
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from rich.console import Console

if TYPE_CHECKING:
    import rich.progress

__all__ = ["INTERVAL", "ProgressBar", "close_all", "progress", "track"]

#: Seconds between two plain progress lines on a non-terminal.
INTERVAL = 10.0

T = TypeVar("T")

_clock = time.monotonic  # module attribute, so that tests can drive the time

_open: list[ProgressBar] = []  # displays entered and not yet exited, outermost first
_open_lock = threading.Lock()


@functools.cache
def _stderr_console() -> Console:
    """The console every display writes to by default (one, so that displays can share it)."""
    return Console(stderr=True)


def _animates(console: Console) -> bool:
    """Whether ``console`` can redraw a bar in place (rich's own test for live displays)."""
    return console.is_jupyter or (console.is_terminal and not console.is_dumb_terminal)


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"


class ProgressBar:
    """Progress of one stage of work, as a context manager (also called :data:`progress`).

    Call :meth:`advance` after each step and :meth:`describe` when a new stage starts.

    Parameters
    ----------
    description
        What is being done, e.g. ``"simulate"``; starts every plain line.
    total
        Number of steps, or ``None`` for a stage of unknown length (a spinner).
    completed
        Steps already done (e.g. the epochs before a resumed run).
    unit
        What one step is, in the plural (``"days"``, ``"epochs"``), for the count.
    transient
        On a terminal, remove the bar when the stage ends.
    enabled
        ``False`` shows nothing at all.
    console
        Where to write; default: standard error.
    interval
        Seconds between two plain lines on a non-terminal.
    """

    def __init__(
        self,
        description: str,
        *,
        total: int | None = None,
        completed: int = 0,
        unit: str = "",
        transient: bool = False,
        enabled: bool = True,
        console: Console | None = None,
        interval: float = INTERVAL,
    ) -> None:
        self.description = description
        self.total = total
        self.completed = completed
        self.unit = unit
        self.transient = transient
        self.enabled = enabled
        self.console = console if console is not None else _stderr_console()
        self.interval = interval
        self.info = ""
        self._rich: rich.progress.Progress | None = None
        self._task: rich.progress.TaskID | None = None
        self._owner = False  # whether this display started the rich display it draws on
        self._start = self._last_line = 0.0

    # -- context manager --------------------------------------------------------------------
    def __enter__(self) -> Self:
        if not self.enabled:
            return self
        with _open_lock:
            shown = [b._rich for b in _open if b._rich is not None and b.console is self.console]
            _open.append(self)
        self._start = self._last_line = _clock()
        if shown:
            self._owner = False
            self._add_task(shown[-1])  # a row of the display already on screen
        elif _animates(self.console):
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            display = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[count]}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
                transient=self.transient,
            )
            self._owner = True
            self._add_task(display)
            display.start()
        elif self.completed:
            self._line(f"{self.description}: started at {self._count()}")
        elif self.total is not None:
            self._line(f"{self.description}: started ({f'{self.total} {self.unit}'.rstrip()})")
        else:
            self._line(f"{self.description}: started")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(stopped=exc_type is not None)

    def _close(self, *, stopped: bool) -> None:
        with _open_lock:
            if self not in _open:  # disabled, or already closed by close_all()
                return
            _open.remove(self)
        if self._rich is not None:
            if self._owner:
                self._rich.stop()
            elif self.transient and self._task is not None:
                self._rich.remove_task(self._task)
            self._rich = None
            return
        elapsed = _seconds(_clock() - self._start)
        count = self._count()
        if stopped:
            at = f" at {count}" if count else ""
            self._line(f"{self.description}: stopped{at} after {elapsed}")
        else:
            self._line(f"{self.description}: done{', ' + count if count else ''} in {elapsed}")

    # -- updates ----------------------------------------------------------------------------
    def advance(self, steps: int = 1, /, **info: object) -> None:
        """Count ``steps`` more steps done; ``info`` (e.g. ``train=0.31``) is shown after the count.

        Floats are shown with four significant digits.
        """
        if not self.enabled:
            return
        self.completed += steps
        if info:
            self.info = " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items()
            )
        if self._rich is not None and self._task is not None:
            self._rich.update(
                self._task, completed=self.completed, count=self._count(), info=self.info
            )
            return
        now = _clock()
        if now - self._last_line >= self.interval:
            shown = f" ({self.info})" if self.info else ""
            elapsed = _seconds(now - self._start)
            self._line(f"{self.description}: {self._count()} after {elapsed}{shown}")

    def describe(self, description: str) -> None:
        """Start the next stage under a new description (one plain line on a non-terminal)."""
        if not self.enabled:
            return
        self.description = description
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, description=description)
            return
        self._line(f"{description}: started after {_seconds(_clock() - self._start)}")

    # -- helpers ----------------------------------------------------------------------------
    def _add_task(self, display: rich.progress.Progress) -> None:
        """Draw this stage as a row of ``display``."""
        self._rich = display
        self._task = display.add_task(
            self.description,
            total=self.total,
            completed=self.completed,
            count=self._count(),
            info="",
        )

    def _count(self) -> str:
        """``"3/10 days"``, ``"3 days"`` without a total, ``""`` for a stage without steps."""
        if self.total is None and self.completed == 0:
            return ""
        done = f"{self.completed}/{self.total}" if self.total is not None else str(self.completed)
        return f"{done} {self.unit}".rstrip()

    def _line(self, text: str) -> None:
        self._last_line = _clock()
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


def close_all() -> None:
    """Close every open display, innermost first, as if its stage had been stopped.

    On a terminal this stops the animation and gives back the cursor and standard output; in
    a log it prints the ``stopped`` line now instead of whenever a suspended :func:`track`
    generator is garbage collected.
    """
    with _open_lock:
        still_open = list(_open)
    for bar in reversed(still_open):
        bar._close(stopped=True)


#: ``with progress("simulate", total=365, unit="days") as bar: ... bar.advance()``
progress = ProgressBar


def track(
    iterable: Iterable[T],
    description: str,
    *,
    total: int | None = None,
    unit: str = "",
    transient: bool = False,
    enabled: bool = True,
    console: Console | None = None,
    interval: float = INTERVAL,
) -> Iterator[T]:
    """Yield the items of ``iterable`` while showing how many were done.

    Parameters
    ----------
    iterable
        The items; ``total`` defaults to ``len(iterable)`` when it has a length.
    description, total, unit, transient, enabled, console, interval
        As for :class:`ProgressBar`.
    """
    if total is None and isinstance(iterable, Sized):
        total = len(iterable)
    with ProgressBar(
        description,
        total=total,
        unit=unit,
        transient=transient,
        enabled=enabled,
        console=console,
        interval=interval,
    ) as bar:
        for item in iterable:
            yield item
            bar.advance()
