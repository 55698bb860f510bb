"""Prometheus metrics in the text exposition format (no client library needed).

Counters and histograms are per process, as Prometheus expects of a scraped target.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

__all__ = ["Metrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(_BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(_BUCKETS, value)] += 1
        self.total += value
        self.count += 1


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in pairs)
    return "{" + inner + "}"


class Metrics:
    """Request counts, bytes moved and upload/download durations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.bytes: dict[str, int] = defaultdict(int)
        self.durations: dict[tuple[tuple[str, str], ...], _Histogram] = defaultdict(_Histogram)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request and its duration."""
        key = (("method", method), ("route", route), ("code", str(status)))
        with self._lock:
            self.requests[key] += 1
            self.durations[(("method", method), ("route", route))].observe(seconds)

    def moved(self, direction: str, count: int) -> None:
        """Add ``count`` bytes ``received`` (uploads) or ``sent`` (downloads)."""
        with self._lock:
            self.bytes[direction] += count

    def transfer(self, kind: str, seconds: float) -> None:
        """Record one blob ``upload`` or ``download`` duration."""
        with self._lock:
            self.durations[(("transfer", kind),)].observe(seconds)

    def render(self) -> str:
        """The text exposition of every metric."""
        lines = [
            "# HELP wharf_registry_http_requests_total HTTP requests by method, route, code.",
            "# TYPE wharf_registry_http_requests_total counter",
        ]
        with self._lock:
            for key, value in sorted(self.requests.items()):
                lines.append(f"wharf_registry_http_requests_total{_labels(key)} {value}")
            lines += [
                "# HELP wharf_registry_bytes_total Blob bytes received and sent.",
                "# TYPE wharf_registry_bytes_total counter",
            ]
            for direction, value in sorted(self.bytes.items()):
                lines.append(f'wharf_registry_bytes_total{{direction="{direction}"}} {value}')
            lines += [
                "# HELP wharf_registry_duration_seconds Request and blob transfer durations.",
                "# TYPE wharf_registry_duration_seconds histogram",
            ]
            for key, hist in sorted(self.durations.items()):
                cumulative = 0
                for bound, n in zip((*_BUCKETS, float("inf")), hist.counts, strict=True):
                    cumulative += n
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    labels = _labels((*key, ("le", le)))
                    lines.append(f"wharf_registry_duration_seconds_bucket{labels} {cumulative}")
                lines.append(f"wharf_registry_duration_seconds_sum{_labels(key)} {hist.total}")
                lines.append(f"wharf_registry_duration_seconds_count{_labels(key)} {hist.count}")
        return "\n".join(lines) + "\n"
