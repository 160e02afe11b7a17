"""Container resources: memory in use and CPU throttling against the process's own cgroup limits,
the host's numbers when no limit is set (standard library only; Linux ``/sys`` and ``/proc``)."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .._fork import after_fork
from ..results import CheckResult, error_text
from .disk import _size

__all__ = ["cpu_check", "memory_check"]

# cgroup v1 writes "no limit" as the largest page-aligned 63-bit byte count
# (9223372036854771712 with 4 KiB pages): any limit from 2**62 bytes is taken as none.
_V1_NO_LIMIT = 2**62


def memory_check(
    *,
    warn: float = 0.85,
    fail: float = 0.95,
    root: str | os.PathLike[str] = "/sys/fs/cgroup",
    proc: str | os.PathLike[str] = "/proc",
) -> Callable[[], CheckResult]:
    """A check of the memory this process's container uses against its limit: warns at ``warn``,
    fails at ``fail`` (``observed`` = the used ratio, ``unit="ratio"``).

    Each run finds the process's cgroup in ``{proc}/self/cgroup`` and reads its files under
    ``root``: with cgroup v2, ``memory.current`` against ``memory.max``; with cgroup v1,
    ``memory/memory.usage_in_bytes`` against ``memory/memory.limit_in_bytes``. Used memory is
    the working set, as ``kubectl top`` and ``docker stats`` count it: the usage less the page
    cache the kernel can drop without a fight (``inactive_file`` in ``memory.stat``). The
    cgroup's files are at ``root`` + its path, or at ``root`` itself when that path is not
    there (in a container with a cgroup namespace of its own, or with its cgroup mounted at
    ``root``); a limit set on a parent cgroup counts too, and the level nearest to its limit
    is reported. The message says which numbers were used:
    ``"cgroup v2: 412.0 MiB of 512.0 MiB (80%)"``.

    With no limit (v2 ``max``, v1's huge number, or a limit at or above the host's memory,
    which the host runs out of first), the host's numbers are used instead: ``MemTotal`` less
    ``MemAvailable`` of ``{proc}/meminfo``, with the message
    ``"host (no cgroup limit): 1.2 GiB of 23.5 GiB (5%)"``. Files that cannot be read fail
    the check with the error's text. ``root`` and ``proc`` are there for tests.

    ``0 < warn <= fail <= 1`` is checked here (``ValueError`` otherwise); ``warn == fail``
    never warns.

    >>> memory_check(warn=1.0, fail=1.0)().unit
    'ratio'
    >>> memory_check(warn=0.95, fail=0.85)
    Traceback (most recent call last):
    ...
    ValueError: memory_check needs 0 < warn <= fail <= 1, got warn=0.95, fail=0.85
    """
    warn_at, fail_at = _thresholds("memory_check", warn, fail)
    cgroups = _directory(root, "memory_check", "root")
    procfs = _directory(proc, "memory_check", "proc")

    def check_memory() -> CheckResult:
        source, used, total = _memory(cgroups, procfs)
        ratio = used / total if total > 0 else 0.0
        message = f"{source}: {_size(used)} of {_size(total)} ({math.floor(ratio * 100)}%)"
        return _verdict(ratio, message, warn_at, fail_at)

    check_memory.__qualname__ = "memory_check()"
    return check_memory


def cpu_check(
    *,
    warn: float = 0.5,
    fail: float = 0.9,
    root: str | os.PathLike[str] = "/sys/fs/cgroup",
    proc: str | os.PathLike[str] = "/proc",
) -> Callable[[], CheckResult]:
    """A check of CPU throttling under this process's container limit: warns at ``warn``, fails
    at ``fail`` (``observed`` = the throttled ratio, ``unit="ratio"``).

    Under a CPU limit the kernel hands out the quota per period (100 ms by default) and stops
    the cgroup for the rest of a period once it is spent: requests stall although the host may
    be idle. Each run reads ``nr_periods`` and ``nr_throttled`` from the cgroup's ``cpu.stat``
    (v2: the limit in ``cpu.max``; v1: ``cpu,cpuacct/`` or ``cpu/``, the limit in
    ``cpu.cfs_quota_us``) and reports the share of periods throttled since the previous run
    of this check (on the first run, since the cgroup started), with the message
    ``"cgroup v2: throttled in 12% of periods since the last run (12 of 100, 0.4 s), limit 0.5 CPU"``.
    The cgroup is found as for :func:`memory_check`; a limit on a parent counts too, and the
    most throttled level is reported.

    With no limit (``max``, ``-1``, or at least as many CPUs as the host has), nothing is
    throttled and the host's busy share from ``{proc}/stat`` is reported instead, over the
    same interval (on the first run, since boot): ``"host (no cgroup limit): 37% busy since
    the last run, 2 CPUs"``. Each check keeps its own previous numbers (per process).

    ``0 < warn <= fail <= 1`` is checked here (``ValueError`` otherwise).

    >>> cpu_check(warn=1.0, fail=1.0)().unit
    'ratio'
    >>> cpu_check(warn=0)
    Traceback (most recent call last):
    ...
    ValueError: cpu_check needs 0 < warn <= fail <= 1, got warn=0, fail=0.9
    """
    warn_at, fail_at = _thresholds("cpu_check", warn, fail)
    cgroups = _directory(root, "cpu_check", "root")
    procfs = _directory(proc, "cpu_check", "proc")
    counters = _Counters()

    def check_cpu() -> CheckResult:
        with counters.lock:  # overlapping runs would each take the other's interval
            ratio, message = _cpu(cgroups, procfs, counters)
        return _verdict(ratio, message, warn_at, fail_at)

    check_cpu.__qualname__ = "cpu_check()"
    return check_cpu


# -- arguments -----------------------------------------------------------------------------------


def _thresholds(what: str, warn: object, fail: object) -> tuple[float, float]:
    for label, value in (("warn", warn), ("fail", fail)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise TypeError(f"{what} {label} must be a ratio (a number from 0 to 1), got {value!r}")
    assert isinstance(warn, (int, float))
    assert isinstance(fail, (int, float))
    if not 0 < warn <= fail <= 1:
        raise ValueError(f"{what} needs 0 < warn <= fail <= 1, got warn={warn!r}, fail={fail!r}")
    return float(warn), float(fail)


def _directory(value: object, what: str, label: str) -> Path:
    path = os.fspath(value) if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(path, str) or not path:
        raise TypeError(f"{what} {label} must be a directory as a non-empty str or os.PathLike, got {value!r}")
    return Path(path)


def _verdict(ratio: float, message: str, warn_at: float, fail_at: float) -> CheckResult:
    observed = round(ratio, 4)
    if ratio >= fail_at:
        return CheckResult.fail(message, observed=observed, unit="ratio")
    if ratio >= warn_at:
        return CheckResult.warn(message, observed=observed, unit="ratio")
    return CheckResult.ok(message, observed=observed, unit="ratio")


# -- where the process's cgroup is ---------------------------------------------------------------


@dataclass(frozen=True)
class _Cgroup:
    """Where a controller's files are for this process: cgroup ``version`` 1 or 2, ``leaf`` the
    process's own cgroup, ``mount`` the top of the hierarchy as mounted (``leaf`` or above it)."""

    version: int
    mount: Path
    leaf: Path

    def levels(self) -> list[Path]:
        """The process's cgroup, then each parent up to the mount."""
        levels = [self.leaf]
        while levels[-1] != self.mount and levels[-1].parent != levels[-1]:
            levels.append(levels[-1].parent)
        return levels

    def label(self, level: Path) -> str:
        """``"cgroup v2"``, naming the cgroup when the numbers are a parent's."""
        if level == self.leaf:
            return f"cgroup v{self.version}"
        below = level.relative_to(self.mount).parts
        return f"cgroup v{self.version} (limit set on /{'/'.join(below)})"


def _membership(proc: Path) -> tuple[str | None, dict[str, tuple[str, str]]]:
    """The v2 path of this process (the ``0::`` line of ``/proc/self/cgroup``) and, per v1
    controller, the hierarchy's controller list and the path: ``{"cpu": ("cpu,cpuacct", "/")}``.

    An unreadable file reads as no line at all.
    """
    try:
        text = (proc / "self" / "cgroup").read_text()
    except OSError:
        return None, {}
    v2: str | None = None
    v1: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:
            v2 = path
            continue
        for controller in controllers.split(","):
            v1[controller] = (controllers, path)
    return v2, v1


def _within(mount: Path, path: str) -> Path:
    """``mount`` + ``path`` if that directory exists, else ``mount``: inside a container with a
    cgroup namespace of its own (or its cgroup mounted at ``mount``) the mount is its cgroup."""
    parts = [part for part in PurePosixPath(path).parts if part != "/"]
    if not parts or ".." in parts:
        return mount
    leaf = mount.joinpath(*parts)
    return leaf if leaf.is_dir() else mount


def _locate(root: Path, proc: Path, controller: str) -> _Cgroup | None:
    """The cgroup holding this process's ``controller`` ("memory" or "cpu") files, or None."""
    v2_path, v1 = _membership(proc)
    names: tuple[str, ...] = ("cpu,cpuacct", "cpu") if controller == "cpu" else (controller,)
    if controller in v1:  # cgroup v1, or a hybrid system whose v1 hierarchy holds the controller
        listed, path = v1[controller]
        for name in dict.fromkeys((listed, *names)):
            if (root / name).is_dir():
                return _Cgroup(1, root / name, _within(root / name, path))
    if (root / "cgroup.controllers").is_file():
        return _Cgroup(2, root, _within(root, v2_path or "/"))
    if v2_path is None and not v1:  # no /proc/self/cgroup: a v1 hierarchy at the root, if any
        for name in names:
            if (root / name).is_dir():
                return _Cgroup(1, root / name, root / name)
    return None


def _read(path: Path) -> str | None:
    """A one-value file's text, or None when the file is not there (no limit at that level)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def _keyed(path: Path) -> dict[str, int]:
    """A ``key value`` file (``cpu.stat``, ``memory.stat``) as a dict; {} when not there."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


# -- memory --------------------------------------------------------------------------------------


def _memory(root: Path, proc: Path) -> tuple[str, int, int]:
    """Which numbers, the bytes used and the bytes allowed."""
    try:
        host: tuple[int, int] | None = _meminfo(proc)
        host_error: OSError | None = None
    except OSError as error:
        host, host_error = None, error
    group = _locate(root, proc, "memory")
    nearest: tuple[float, int, int, Path] | None = None
    above_host: int | None = None
    for level in group.levels() if group is not None else ():
        assert group is not None
        if group.version == 2:
            text = _read(level / "memory.max")
            if text is None or text == "max":
                continue
            limit = int(text)
        else:
            text = _read(level / "memory.limit_in_bytes")
            if text is None:
                continue
            limit = int(text)
            if limit >= _V1_NO_LIMIT:
                continue
        if limit <= 0:
            continue
        if host is not None and limit >= host[1]:
            above_host = limit if above_host is None else min(above_host, limit)
            continue
        current = (level / ("memory.current" if group.version == 2 else "memory.usage_in_bytes")).read_text()
        stat = _keyed(level / "memory.stat")
        cache = stat.get("inactive_file", 0) if group.version == 2 else stat.get("total_inactive_file", 0)
        used = max(int(current) - cache, 0)
        if nearest is None or used / limit > nearest[0]:
            nearest = (used / limit, used, limit, level)
    if nearest is not None:
        assert group is not None
        return group.label(nearest[3]), nearest[1], nearest[2]
    if host is None:
        assert host_error is not None
        raise RuntimeError(
            f"memory_check found no cgroup memory limit under {root} "
            f"and cannot read the host's: {error_text(host_error)}"
        ) from host_error
    why = "no cgroup limit" if above_host is None else f"cgroup limit {_size(above_host)} above host memory"
    return f"host ({why})", host[0], host[1]


def _meminfo(proc: Path) -> tuple[int, int]:
    """The host's memory in use and in total, in bytes, from ``/proc/meminfo``."""
    fields: dict[str, int] = {}
    for line in (proc / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        amount = rest.split()
        if amount and amount[0].isdigit():
            fields[key] = int(amount[0]) * (1024 if amount[1:] == ["kB"] else 1)
    if "MemTotal" not in fields:
        raise OSError(f"no MemTotal in {proc / 'meminfo'}")
    total = fields["MemTotal"]
    available = fields.get("MemAvailable")
    if available is None:  # kernels before 3.14: an estimate of the same
        available = fields.get("MemFree", 0) + fields.get("Buffers", 0) + fields.get("Cached", 0)
    return max(total - available, 0), total


# -- CPU -----------------------------------------------------------------------------------------


class _Counters:
    """The counters each cgroup level (and the host) had at the previous run of one check.

    Thread-safety: a run holds ``lock`` from its first read to recording what it read.
    After ``fork()`` the lock is renewed; the counters stay (they are the cgroup's, not the
    process's).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._previous: dict[str, tuple[int, ...]] = {}
        after_fork(self, _Counters._renew)

    def since(self, key: str, now: tuple[int, ...]) -> tuple[tuple[int, ...], bool]:
        """``now`` less the counters of the previous run, and whether there was one: on the
        first run (or counters that went back: a new cgroup), ``now`` itself, since the start."""
        before = self._previous.get(key)
        self._previous[key] = now
        if before is None or any(new < old for new, old in zip(now, before, strict=True)):
            return now, False
        return tuple(new - old for new, old in zip(now, before, strict=True)), True

    def _renew(self) -> None:
        self.lock = threading.Lock()


def _cpu(root: Path, proc: Path, counters: _Counters) -> tuple[float, str]:
    """The throttled (or, with no limit, the host's busy) ratio and the message."""
    try:
        host_cpus: int | None = _stat_cpus(proc)
    except OSError:
        host_cpus = None
    group = _locate(root, proc, "cpu")
    worst: tuple[float, str] | None = None
    above_host: float | None = None
    for level in group.levels() if group is not None else ():
        assert group is not None
        cpus = _quota(group.version, level)
        if cpus is None:
            continue
        if host_cpus is not None and cpus >= host_cpus:
            above_host = cpus if above_host is None else min(above_host, cpus)
            continue
        stat = _keyed(level / "cpu.stat")
        throttled_us = stat["throttled_usec"] if "throttled_usec" in stat else stat.get("throttled_time", 0) // 1000
        (periods, throttled, waited), again = counters.since(
            str(level), (stat.get("nr_periods", 0), stat.get("nr_throttled", 0), throttled_us)
        )
        ratio = throttled / periods if periods > 0 else 0.0
        if worst is None or ratio > worst[0]:
            since = "since the last run" if again else "since the cgroup started"
            worst = (
                ratio,
                f"{group.label(level)}: throttled in {math.floor(ratio * 100)}% of periods {since} "
                f"({throttled} of {periods}, {waited / 1e6:.1f} s), limit {cpus:g} CPU",
            )
    if worst is not None:
        return worst
    try:
        busy, total = _stat_busy(proc)
    except OSError as error:
        raise RuntimeError(
            f"cpu_check found no cgroup CPU limit under {root} and cannot read the host's: {error_text(error)}"
        ) from error
    (busy, total), again = counters.since("host", (busy, total))
    ratio = busy / total if total > 0 else 0.0
    since = "since the last run" if again else "since boot"
    why = "no cgroup limit" if above_host is None else f"cgroup limit {above_host:g} CPU not below the host's"
    count = host_cpus if host_cpus is not None else os.cpu_count() or 1
    return ratio, f"host ({why}): {math.floor(ratio * 100)}% busy {since}, {count} CPU{'s' if count != 1 else ''}"


def _quota(version: int, level: Path) -> float | None:
    """The CPUs a cgroup level may use per period, or None when it sets no limit."""
    if version == 2:
        text = _read(level / "cpu.max")
        if text is None:
            return None
        quota, _, period = text.partition(" ")
        if quota == "max":
            return None
        return int(quota) / int(period or "100000")
    quota_text = _read(level / "cpu.cfs_quota_us")
    if quota_text is None or int(quota_text) < 0:
        return None
    period_text = _read(level / "cpu.cfs_period_us")
    return int(quota_text) / int(period_text or "100000")


def _stat_cpus(proc: Path) -> int:
    """How many CPUs the host has online: the ``cpuN`` lines of ``/proc/stat``."""
    lines = (proc / "stat").read_text().splitlines()
    return sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit()) or os.cpu_count() or 1


def _stat_busy(proc: Path) -> tuple[int, int]:
    """The host's busy and total CPU time since boot (in clock ticks), from ``/proc/stat``'s
    first line: busy is all but ``idle`` and ``iowait``; ``guest`` is already in ``user``."""
    first = (proc / "stat").read_text().split("\n", 1)[0].split()
    if not first or first[0] != "cpu":
        raise OSError(f"no cpu line at the top of {proc / 'stat'}")
    ticks = [int(value) for value in first[1:9]]  # user nice system idle iowait irq softirq steal
    total = sum(ticks)
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return total - idle, total
