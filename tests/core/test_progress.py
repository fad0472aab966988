"""The one progress display: a bar on a terminal, a few plain lines in logs."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from ecocube import _progress
from ecocube._progress import progress, track


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A fake clock the display reads: tests move ``clock[0]`` forward."""
    now = [1000.0]
    monkeypatch.setattr(_progress, "_clock", lambda: now[0])
    return now


def _log(width: int = 100) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()  # not a terminal, like `make demo > log`
    return Console(file=buf, width=width), buf


def test_log_gets_no_carriage_returns_and_a_line_every_interval(clock: list[float]) -> None:
    console, buf = _log()
    with progress("simulate", total=10_000, unit="days", console=console) as bar:
        for _ in range(10_000):
            clock[0] += 2**-6  # exact in binary: 10 s every 640 updates, 156.25 s in all
            bar.advance(train=0.123456)
    text = buf.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and "\x1b" not in text
    # a start line, one line per 10 s and an end line, instead of 10,000 frames
    assert len(lines) == 1 + 15 + 1, lines
    assert lines[0] == "simulate: started (10000 days)"
    assert lines[1] == "simulate: 640/10000 days after 10.0 s (train=0.1235)"
    assert lines[15] == "simulate: 9600/10000 days after 2 min 30 s (train=0.1235)"
    assert lines[-1] == "simulate: done, 10000/10000 days in 2 min 36 s"


def test_short_stage_in_a_log_prints_only_start_and_end(clock: list[float]) -> None:
    console, buf = _log()
    for _ in track(range(10_000), "fetch", unit="files", console=console):
        clock[0] += 1e-4  # 1 s in all: shorter than the interval
    assert buf.getvalue().splitlines() == [
        "fetch: started (10000 files)",
        "fetch: done, 10000/10000 files in 1.0 s",
    ]


def test_stages_and_interruptions_are_one_line_each(clock: list[float]) -> None:
    console, buf = _log()
    with progress("searching items", console=console) as bar:
        clock[0] += 3
        bar.describe("writing 3 variables")
        clock[0] += 2
    with pytest.raises(KeyboardInterrupt):
        for i in track([1, 2, 3], "ensemble", unit="batches", console=console):
            clock[0] += 1
            if i == 2:
                raise KeyboardInterrupt
    assert buf.getvalue().splitlines() == [
        "searching items: started",
        "writing 3 variables: started after 3.0 s",
        "writing 3 variables: done in 5.0 s",
        "ensemble: started (3 batches)",
        "ensemble: stopped at 1/3 batches after 2.0 s",
    ]


def test_resumed_count_and_disabled_display(clock: list[float]) -> None:
    console, buf = _log()
    with progress("epochs", total=10, completed=4, unit="epochs", console=console) as bar:
        bar.advance(2, val=0.5)
    assert buf.getvalue().splitlines() == [
        "epochs: started at 4/10 epochs",
        "epochs: done, 6/10 epochs in 0.0 s",
    ]
    console, buf = _log()
    with progress("epochs", total=10, console=console, enabled=False) as bar:
        bar.advance()
        bar.describe("other")
    assert list(track([1], "x", console=console, enabled=False)) == [1]
    assert buf.getvalue() == ""


def test_terminal_renders_an_animated_bar() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=True, force_interactive=True)
    with progress("epochs", total=50, unit="epochs", console=console) as bar:
        for _ in range(50):
            bar.advance(train=0.5)
            # a display opened inside another one becomes a row of the outer display
            for _ in track(range(3), "batches", transient=True, console=console):
                pass
    text = buf.getvalue()
    assert "━" in text and "\x1b[" in text  # a bar drawn with ANSI control codes
    assert "50/50 epochs" in text and "train=0.5" in text and "batches" in text
    assert "started" not in text  # no plain log lines on a terminal


def test_close_all_ends_a_display_that_a_failing_loop_left_open(clock: list[float]) -> None:
    import gc

    from ecocube._progress import close_all

    console, buf = _log()

    def build() -> None:
        collections = track([1, 2, 3], "catalog", unit="collections", console=console)
        for _ in collections:
            clock[0] += 1
            raise RuntimeError("a collection failed")

    # the traceback holds build's frame, whose local variable holds the suspended generator
    with pytest.raises(RuntimeError) as info:
        build()
    assert buf.getvalue().splitlines() == ["catalog: started (3 collections)"]
    close_all()
    expected = [
        "catalog: started (3 collections)",
        "catalog: stopped at 0/3 collections after 1.0 s",
    ]
    assert buf.getvalue().splitlines() == expected
    del info
    gc.collect()  # the suspended generator is finalized now: it prints nothing more
    assert buf.getvalue().splitlines() == expected
