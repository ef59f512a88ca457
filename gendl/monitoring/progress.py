"""Rate-limited console progress lines with throughput and ETA.

step 1200/200000 (0.6%) | 0.91 steps/s | ETA 2d 12h 03m | loss_d=-1.234 loss_g=0.567
"""

import collections
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from gendl.monitoring.metrics import to_float

UNKNOWN = "--"


def format_duration(seconds: float) -> str:
    """Human-readable duration: '2d 12h 03m', '3h 05m', '12m 30s', '45s'.

    Only the two most significant units are shown: an ETA of days does not need seconds.
    Negative, NaN or infinite inputs give '--' (no meaningful estimate yet).
    """
    if not math.isfinite(seconds) or seconds < 0:
        return UNKNOWN
    total = round(float(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_rate(steps_per_second: float | None) -> str:
    """Steps/s with about three significant digits and no scientific notation."""
    if steps_per_second is None or not math.isfinite(steps_per_second):
        return f"{UNKNOWN} steps/s"
    if steps_per_second >= 100:
        return f"{steps_per_second:.0f} steps/s"
    if steps_per_second >= 10:
        return f"{steps_per_second:.1f} steps/s"
    if steps_per_second >= 0.01:
        return f"{steps_per_second:.2f} steps/s"
    return f"{steps_per_second:.2g} steps/s"


def format_scalars(scalars: Mapping[str, Any]) -> str:
    return " ".join(f"{name}={to_float(value):.4g}" for name, value in scalars.items())


def format_line(step: int, total_steps: int, rate: float | None, scalars: Mapping[str, Any]) -> str:
    """The console line for `step`; `rate` is steps/s or None while still unknown."""
    percent = 100.0 * step / total_steps if total_steps > 0 else 100.0
    eta = (total_steps - step) / rate if rate else math.nan
    parts = [
        f"step {step}/{total_steps} ({percent:.1f}%)",
        format_rate(rate),
        f"ETA {format_duration(eta)}",
    ]
    if scalars:
        parts.append(format_scalars(scalars))
    return " | ".join(parts)


class Progress:
    """Turns per-step updates into an occasional console line.

    A line is returned for the first update, the final step (`step >= total_steps`), and
    otherwise at most once every `every_seconds`. Throughput is measured from the *second*
    update on, because the first step includes XLA compilation and would drag the rate down
    for a long time, and over the last `window` emitted lines, so it tracks changes in speed
    (e.g. evaluation pauses, preemption-induced slow hosts) instead of the run-long average.
    """

    def __init__(
        self,
        total_steps: int,
        start_step: int = 0,
        *,
        every_seconds: float = 30.0,
        window: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ):
        if window < 1:
            raise ValueError("window must be >= 1")
        self.total_steps = int(total_steps)
        self.start_step = int(start_step)
        self.every_seconds = every_seconds
        self._clock = clock
        self._num_updates = 0
        self._last_emit = -math.inf
        # (time, step) samples; the oldest one is the start of the rate window.
        self._samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=window + 1)

    def rate(self) -> float | None:
        """Recent steps/s, or None until two post-compilation samples exist."""
        if len(self._samples) < 2:
            return None
        (t0, s0), (t1, s1) = self._samples[0], self._samples[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else None

    def due(self) -> bool:
        """Whether `update` would print now: lets the trainer fetch metrics from the device
        only when a line will be shown (the first two updates anchor the rate)."""
        return self._num_updates < 2 or self._clock() - self._last_emit >= self.every_seconds

    def update(self, step: int, scalars: Mapping[str, Any] | None = None) -> str | None:
        """Records that `step` finished; returns a line to print, or None to stay quiet."""
        now = self._clock()
        step = int(step)
        self._num_updates += 1
        first = self._num_updates == 1
        if self._num_updates == 2:
            self._samples.append((now, step))  # rate anchor: first post-compilation timing
        last = step >= self.total_steps
        if not (first or last or now - self._last_emit >= self.every_seconds):
            return None
        self._last_emit = now
        if not first and self._samples[-1] != (now, step):
            self._samples.append((now, step))
        return format_line(step, self.total_steps, self.rate(), scalars or {})
