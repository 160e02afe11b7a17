"""flask_status.checks.memory_check and cpu_check: cgroup v2, v1 and hybrid layouts built as
fixture directories under tmp_path (``root=`` for /sys/fs/cgroup, ``proc=`` for /proc), then
the real files of the machine running the tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_status import CheckResult, StatusManager
from flask_status.checks import cpu_check, memory_check

MiB = 1024 * 1024
GiB = 1024 * MiB
V1_NO_LIMIT = 9223372036854771712  # what cgroup v1 shows for "no limit" with 4 KiB pages

# A host of 16 GiB with 12 GiB available (4 GiB in use, 25%), and 4 CPUs.
MEMINFO = """\
MemTotal:       16777216 kB
MemFree:         8388608 kB
MemAvailable:   12582912 kB
Buffers:          262144 kB
Cached:          3145728 kB
"""


def proc_stat(busy: int, idle: int, cpus: int = 4) -> str:
    """A /proc/stat whose first line adds up to ``busy`` and ``idle`` ticks (iowait counted idle)."""
    user, system, iowait = busy // 2, busy - busy // 2, idle // 10
    lines = [f"cpu  {user} 0 {system} {idle - iowait} {iowait} 0 0 0 0 0"]
    lines += [f"cpu{n} 1 0 1 1 0 0 0 0 0 0" for n in range(cpus)]
    return "\n".join([*lines, "intr 1", "ctxt 1", "btime 1", ""])


def write(base: Path, files: dict[str, str | int]) -> Path:
    for name, content in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{content}\n")
    return base


def make_proc(tmp_path: Path, cgroup: str | None, *, meminfo: str | None = MEMINFO, stat: str | None = None) -> Path:
    """A fixture /proc: ``self/cgroup`` (None: absent), ``meminfo`` and ``stat``."""
    files: dict[str, str | int] = {}
    if cgroup is not None:
        files["self/cgroup"] = cgroup
    if meminfo is not None:
        files["meminfo"] = meminfo
    files["stat"] = stat if stat is not None else proc_stat(1000, 9000)
    (tmp_path / "proc").mkdir()
    return write(tmp_path / "proc", files)


def v2_root(tmp_path: Path, files: dict[str, str | int]) -> Path:
    """A fixture cgroup v2 mount (``cgroup.controllers`` at its top)."""
    return write(tmp_path / "cgroup", {"cgroup.controllers": "cpuset cpu io memory pids", **files})


def status_app(check: Callable[[], Any]) -> Flask:
    app = Flask(__name__)
    StatusManager(app).add_route("ready", "/ready").add_check("resources", check)
    return app


# -- memory: cgroup v2 ---------------------------------------------------------------------------


def test_v2_with_limit(tmp_path: Path) -> None:
    root = v2_root(tmp_path, {"memory.max": 512 * MiB, "memory.current": 412 * MiB})
    result = memory_check(root=root, proc=make_proc(tmp_path, "0::/\n"))()
    assert isinstance(result, CheckResult)
    assert result.status == "pass"
    assert result.unit == "ratio"
    assert result.observed == pytest.approx(412 / 512, abs=1e-4)
    assert result.message == "cgroup v2: 412.0 MiB of 512.0 MiB (80%)"


def test_v2_page_cache_not_counted(tmp_path: Path) -> None:
    # memory.current counts page cache the kernel drops before it kills; the working set does not.
    root = v2_root(
        tmp_path,
        {
            "memory.max": 512 * MiB,
            "memory.current": 500 * MiB,
            "memory.stat": f"anon {300 * MiB}\nfile {200 * MiB}\nactive_file {88 * MiB}\ninactive_file {112 * MiB}",
        },
    )
    result = memory_check(root=root, proc=make_proc(tmp_path, "0::/\n"))()
    assert result.message == "cgroup v2: 388.0 MiB of 512.0 MiB (75%)"
    assert result.observed == pytest.approx(388 / 512, abs=1e-4)


def test_v2_max_falls_back_to_host(tmp_path: Path) -> None:
    root = v2_root(tmp_path, {"memory.max": "max", "memory.current": 900 * MiB})
    result = memory_check(root=root, proc=make_proc(tmp_path, "0::/\n"))()
    assert result.status == "pass"
    assert result.message == "host (no cgroup limit): 4.0 GiB of 16.0 GiB (25%)"
    assert result.observed == 0.25


def test_v2_limit_above_host_memory_uses_host(tmp_path: Path) -> None:
    root = v2_root(tmp_path, {"memory.max": 32 * GiB, "memory.current": 1 * GiB})
    result = memory_check(root=root, proc=make_proc(tmp_path, "0::/\n"))()
    assert result.message == "host (cgroup limit 32.0 GiB above host memory): 4.0 GiB of 16.0 GiB (25%)"
    assert result.observed == 0.25


def test_v2_nested_path_from_proc_self_cgroup(tmp_path: Path) -> None:
    # The process's cgroup is /kubepods/pod1/app: its files, not the root's, are read.
    root = v2_root(
        tmp_path,
        {
            "memory.current": 20 * GiB,  # the whole machine: no memory.max at the root
            "kubepods/pod1/memory.max": "max",
            "kubepods/pod1/memory.current": 300 * MiB,
            "kubepods/pod1/app/memory.max": 256 * MiB,
            "kubepods/pod1/app/memory.current": 128 * MiB,
        },
    )
    result = memory_check(root=root, proc=make_proc(tmp_path, "0::/kubepods/pod1/app\n"))()
    assert result.message == "cgroup v2: 128.0 MiB of 256.0 MiB (50%)"
    assert result.observed == 0.5


def test_v2_limit_on_a_parent_counts(tmp_path: Path) -> None:
    # The container's own limit is far; its pod's is near: the pod's is reported.
    root = v2_root(
        tmp_path,
        {
            "kubepods/pod1/memory.max": 1 * GiB,
            "kubepods/pod1/memory.current": 900 * MiB,
            "kubepods/pod1/app/memory.max": 768 * MiB,
            "kubepods/pod1/app/memory.current": 200 * MiB,
        },
    )
    result = memory_check(root=root, proc=make_proc(tmp_path, "0::/kubepods/pod1/app\n"))()
    assert result.status == "warn"  # 88% >= 0.85
    assert result.message == "cgroup v2 (limit set on /kubepods/pod1): 900.0 MiB of 1.0 GiB (87%)"


def test_v2_path_not_mounted_falls_back_to_root(tmp_path: Path) -> None:
    # /proc/self/cgroup names the host's path, but the container sees its own cgroup at the root.
    root = v2_root(tmp_path, {"memory.max": 256 * MiB, "memory.current": 64 * MiB})
    result = memory_check(root=root, proc=make_proc(tmp_path, "0::/system.slice/docker-0123abcd.scope\n"))()
    assert result.message == "cgroup v2: 64.0 MiB of 256.0 MiB (25%)"


# -- memory: cgroup v1 and hybrid ----------------------------------------------------------------

V1_CGROUP = """\
12:pids:/docker/0123abcd
6:memory:/docker/0123abcd
4:cpu,cpuacct:/docker/0123abcd
1:name=systemd:/docker/0123abcd
0::/system.slice/containerd.service
"""


def test_v1_with_limit(tmp_path: Path) -> None:
    root = write(
        tmp_path / "cgroup",
        {
            "memory/memory.limit_in_bytes": V1_NO_LIMIT,
            "memory/memory.usage_in_bytes": 8 * GiB,
            "memory/docker/0123abcd/memory.limit_in_bytes": 1 * GiB,
            "memory/docker/0123abcd/memory.usage_in_bytes": 950 * MiB,
            "memory/docker/0123abcd/memory.stat": f"cache {60 * MiB}\ntotal_inactive_file {50 * MiB}",
        },
    )
    result = memory_check(root=root, proc=make_proc(tmp_path, V1_CGROUP))()
    assert result.status == "warn"
    assert result.message == "cgroup v1: 900.0 MiB of 1.0 GiB (87%)"
    assert result.observed == pytest.approx(900 / 1024, abs=1e-4)


def test_v1_no_limit_falls_back_to_host(tmp_path: Path) -> None:
    root = write(
        tmp_path / "cgroup",
        {
            "memory/memory.limit_in_bytes": V1_NO_LIMIT,
            "memory/docker/0123abcd/memory.limit_in_bytes": V1_NO_LIMIT,
            "memory/docker/0123abcd/memory.usage_in_bytes": 950 * MiB,
        },
    )
    result = memory_check(root=root, proc=make_proc(tmp_path, V1_CGROUP))()
    assert result.message == "host (no cgroup limit): 4.0 GiB of 16.0 GiB (25%)"


def test_v1_own_cgroup_mounted_at_root(tmp_path: Path) -> None:
    # Docker on cgroup v1: /proc/self/cgroup says /docker/<id>, the mount shows that cgroup only.
    root = write(
        tmp_path / "cgroup",
        {"memory/memory.limit_in_bytes": 2 * GiB, "memory/memory.usage_in_bytes": 1 * GiB},
    )
    result = memory_check(root=root, proc=make_proc(tmp_path, V1_CGROUP))()
    assert result.message == "cgroup v1: 1.0 GiB of 2.0 GiB (50%)"


def test_hybrid_reads_the_v1_memory_controller(tmp_path: Path) -> None:
    # systemd's hybrid layout: controllers on v1, a v2 tree without them at root/unified.
    root = write(
        tmp_path / "cgroup",
        {
            "unified/cgroup.controllers": "",
            "unified/cpu.stat": "usage_usec 1000",
            "memory/memory.limit_in_bytes": V1_NO_LIMIT,
            "memory/app/svc/memory.limit_in_bytes": 512 * MiB,
            "memory/app/svc/memory.usage_in_bytes": 128 * MiB,
        },
    )
    proc = make_proc(tmp_path, "4:memory:/app/svc\n1:cpu:/\n0::/\n")
    assert memory_check(root=root, proc=proc)().message == "cgroup v1: 128.0 MiB of 512.0 MiB (25%)"


def test_no_cgroup_at_all_uses_host(tmp_path: Path) -> None:
    (tmp_path / "cgroup").mkdir()
    result = memory_check(root=tmp_path / "cgroup", proc=make_proc(tmp_path, None))()
    assert result.message == "host (no cgroup limit): 4.0 GiB of 16.0 GiB (25%)"


def test_nothing_readable_fails_saying_what(tmp_path: Path) -> None:
    (tmp_path / "cgroup").mkdir()
    app = status_app(memory_check(root=tmp_path / "cgroup", proc=make_proc(tmp_path, None, meminfo=None)))
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    error = response.get_json()["resources"]["error"]
    assert error.startswith("RuntimeError: memory_check found no cgroup memory limit under ")
    assert "FileNotFoundError" in error


def test_limit_without_meminfo_still_reads_the_cgroup(tmp_path: Path) -> None:
    root = v2_root(tmp_path, {"memory.max": 512 * MiB, "memory.current": 256 * MiB})
    result = memory_check(root=root, proc=make_proc(tmp_path, "0::/\n", meminfo=None))()
    assert result.message == "cgroup v2: 256.0 MiB of 512.0 MiB (50%)"


# -- thresholds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current_mib", "status", "code", "route"),
    # Defaults warn=0.85, fail=0.95 of a 1000 MiB limit; each threshold is reached at it exactly.
    [(849, "pass", 200, "OK"), (850, "warn", 200, "WARN"), (950, "fail", 503, "FAIL"), (1010, "fail", 503, "FAIL")],
)
def test_memory_thresholds_through_a_route(
    tmp_path: Path, current_mib: int, status: str, code: int, route: str
) -> None:
    root = v2_root(tmp_path, {"memory.max": 1000 * MiB, "memory.current": current_mib * MiB})
    app = status_app(memory_check(root=root, proc=make_proc(tmp_path, "0::/\n")))
    response = app.test_client().get("/ready")
    assert response.status_code == code
    body = response.get_json()
    assert body["status"] == route
    item = body["resources"]
    assert item["status"] == status
    assert item["unit"] == "ratio"
    assert item["observed"] == pytest.approx(current_mib / 1000, abs=1e-4)
    assert item["message"] == f"cgroup v2: {current_mib}.0 MiB of 1000.0 MiB ({current_mib // 10}%)"


def test_warn_equal_to_fail_never_warns(tmp_path: Path) -> None:
    root = v2_root(tmp_path, {"memory.max": 100 * MiB, "memory.current": 70 * MiB})
    proc = make_proc(tmp_path, "0::/\n")
    assert memory_check(warn=0.7, fail=0.7, root=root, proc=proc)().status == "fail"
    assert memory_check(warn=0.71, fail=0.71, root=root, proc=proc)().status == "pass"
    assert memory_check(warn=0.6, fail=0.71, root=root, proc=proc)().status == "warn"


# -- cpu -----------------------------------------------------------------------------------------


def test_cpu_v2_throttled_ratio_across_runs(tmp_path: Path) -> None:
    root = v2_root(
        tmp_path,
        {
            "cpu.max": "50000 100000",
            "cpu.stat": "usage_usec 9000000\nnr_periods 100\nnr_throttled 10\nthrottled_usec 400000",
        },
    )
    check = cpu_check(root=root, proc=make_proc(tmp_path, "0::/\n"))
    first = check()
    assert first.status == "pass"
    assert first.unit == "ratio"
    assert first.observed == 0.1
    assert first.message == (
        "cgroup v2: throttled in 10% of periods since the cgroup started (10 of 100, 0.4 s), limit 0.5 CPU"
    )
    write(root, {"cpu.stat": "usage_usec 9500000\nnr_periods 300\nnr_throttled 110\nthrottled_usec 2400000"})
    second = check()
    assert second.status == "warn"  # (110 - 10) / (300 - 100) = 0.5, the default warn
    assert second.observed == 0.5
    assert second.message == (
        "cgroup v2: throttled in 50% of periods since the last run (100 of 200, 2.0 s), limit 0.5 CPU"
    )
    third = check()  # nothing ran since: no period, nothing throttled
    assert third.status == "pass"
    assert third.observed == 0.0
    assert "(0 of 0, 0.0 s)" in (third.message or "")


def test_cpu_each_check_keeps_its_own_previous_run(tmp_path: Path) -> None:
    root = v2_root(
        tmp_path, {"cpu.max": "100000 100000", "cpu.stat": "nr_periods 100\nnr_throttled 50\nthrottled_usec 1"}
    )
    proc = make_proc(tmp_path, "0::/\n")
    one = cpu_check(root=root, proc=proc)
    assert one().observed == 0.5
    write(root, {"cpu.stat": "nr_periods 200\nnr_throttled 50\nthrottled_usec 1"})
    assert one().observed == 0.0
    assert cpu_check(root=root, proc=proc)().observed == 0.25  # a new check starts from the cgroup's start


def test_cpu_counters_reset_count_from_the_start(tmp_path: Path) -> None:
    root = v2_root(
        tmp_path, {"cpu.max": "100000 100000", "cpu.stat": "nr_periods 1000\nnr_throttled 10\nthrottled_usec 1"}
    )
    check = cpu_check(root=root, proc=make_proc(tmp_path, "0::/\n"))
    check()
    write(root, {"cpu.stat": "nr_periods 10\nnr_throttled 9\nthrottled_usec 1"})  # a new cgroup
    result = check()
    assert result.status == "fail"
    assert result.observed == 0.9
    assert "since the cgroup started" in (result.message or "")


@pytest.mark.parametrize("directory", ["cpu,cpuacct", "cpu"])
def test_cpu_v1_throttled(tmp_path: Path, directory: str) -> None:
    root = write(
        tmp_path / "cgroup",
        {
            f"{directory}/cpu.cfs_quota_us": -1,
            f"{directory}/cpu.cfs_period_us": 100000,
            f"{directory}/docker/0123abcd/cpu.cfs_quota_us": 150000,
            f"{directory}/docker/0123abcd/cpu.cfs_period_us": 100000,
            f"{directory}/docker/0123abcd/cpu.stat": "nr_periods 400\nnr_throttled 100\nthrottled_time 1500000000",
        },
    )
    cgroup = V1_CGROUP.replace("cpu,cpuacct", directory)
    result = cpu_check(root=root, proc=make_proc(tmp_path, cgroup))()
    assert result.observed == 0.25
    assert result.message == (
        "cgroup v1: throttled in 25% of periods since the cgroup started (100 of 400, 1.5 s), limit 1.5 CPU"
    )


def test_cpu_no_limit_uses_host_busy_share(tmp_path: Path) -> None:
    root = v2_root(tmp_path, {"cpu.max": "max 100000", "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_usec 0"})
    proc = make_proc(tmp_path, "0::/\n", stat=proc_stat(busy=1000, idle=9000))
    check = cpu_check(root=root, proc=proc)
    first = check()
    assert first.observed == 0.1
    assert first.message == "host (no cgroup limit): 10% busy since boot, 4 CPUs"
    write(proc, {"stat": proc_stat(busy=1000 + 700, idle=9000 + 300)})
    second = check()
    assert second.status == "warn"
    assert second.observed == 0.7
    assert second.message == "host (no cgroup limit): 70% busy since the last run, 4 CPUs"


def test_cpu_v1_no_quota_uses_host(tmp_path: Path) -> None:
    root = write(
        tmp_path / "cgroup",
        {"cpu/cpu.cfs_quota_us": -1, "cpu/cpu.cfs_period_us": 100000, "cpu/cpu.stat": "nr_periods 0\nnr_throttled 0"},
    )
    proc = make_proc(tmp_path, "4:memory:/x\n1:cpu:/\n0::/\n", stat=proc_stat(busy=950, idle=50))
    result = cpu_check(root=root, proc=proc)()
    assert result.status == "fail"
    assert result.message == "host (no cgroup limit): 95% busy since boot, 4 CPUs"


def test_cpu_limit_not_below_host_cpus_uses_host(tmp_path: Path) -> None:
    root = v2_root(
        tmp_path, {"cpu.max": "800000 100000", "cpu.stat": "nr_periods 10\nnr_throttled 0\nthrottled_usec 0"}
    )
    result = cpu_check(root=root, proc=make_proc(tmp_path, "0::/\n"))()
    assert result.message == "host (cgroup limit 8 CPU not below the host's): 10% busy since boot, 4 CPUs"


def test_cpu_limit_on_a_parent_counts(tmp_path: Path) -> None:
    root = v2_root(
        tmp_path,
        {
            "pod/cpu.max": "100000 100000",
            "pod/cpu.stat": "nr_periods 100\nnr_throttled 60\nthrottled_usec 3000000",
            "pod/app/cpu.max": "max 100000",
            "pod/app/cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_usec 0",
        },
    )
    result = cpu_check(root=root, proc=make_proc(tmp_path, "0::/pod/app\n"))()
    assert result.status == "warn"
    assert (result.message or "").startswith("cgroup v2 (limit set on /pod): throttled in 60% of periods")


def test_cpu_nothing_readable_fails_saying_what(tmp_path: Path) -> None:
    (tmp_path / "cgroup").mkdir()
    (tmp_path / "proc").mkdir()
    app = status_app(cpu_check(root=tmp_path / "cgroup", proc=tmp_path / "proc"))
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    error = response.get_json()["resources"]["error"]
    assert error.startswith("RuntimeError: cpu_check found no cgroup CPU limit under ")
    assert "FileNotFoundError" in error


def test_cpu_one_host_cpu_in_the_message(tmp_path: Path) -> None:
    (tmp_path / "cgroup").mkdir()
    proc = make_proc(tmp_path, None, stat=proc_stat(busy=100, idle=300, cpus=1))
    assert (
        cpu_check(root=tmp_path / "cgroup", proc=proc)().message == "host (no cgroup limit): 25% busy since boot, 1 CPU"
    )


def test_cpu_thresholds_through_a_route(tmp_path: Path) -> None:
    root = v2_root(tmp_path, {"cpu.max": "50000 100000", "cpu.stat": "nr_periods 10\nnr_throttled 3\nthrottled_usec 1"})
    proc = make_proc(tmp_path, "0::/\n")
    response = status_app(cpu_check(warn=0.2, fail=0.3, root=root, proc=proc)).test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json()["resources"]["status"] == "fail"
    response = status_app(cpu_check(warn=0.2, fail=0.5, root=root, proc=proc)).test_client().get("/ready")
    assert response.status_code == 200
    assert response.get_json()["status"] == "WARN"


# -- arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [memory_check, cpu_check])
@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"warn": 0.95, "fail": 0.9}, ValueError, "needs 0 < warn <= fail <= 1, got warn=0.95, fail=0.9"),
        ({"warn": 0, "fail": 0.5}, ValueError, "got warn=0, fail=0.5"),
        ({"warn": 0.5, "fail": 1.5}, ValueError, "got warn=0.5, fail=1.5"),
        ({"warn": -0.1, "fail": 0.5}, ValueError, "got warn=-0.1"),
        ({"warn": float("nan"), "fail": 0.5}, TypeError, "warn must be a ratio (a number from 0 to 1), got nan"),
        ({"warn": True, "fail": 1.0}, TypeError, "warn must be a ratio (a number from 0 to 1), got True"),
        ({"warn": 0.5, "fail": "0.9"}, TypeError, "fail must be a ratio (a number from 0 to 1), got '0.9'"),
        ({"root": ""}, TypeError, "root must be a directory as a non-empty str or os.PathLike, got ''"),
        ({"root": None}, TypeError, "root must be a directory as a non-empty str or os.PathLike, got None"),
        ({"proc": 3}, TypeError, "proc must be a directory as a non-empty str or os.PathLike, got 3"),
    ],
)
def test_bad_arguments(factory: Callable[..., Any], kwargs: dict[str, Any], error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=re.escape(f"{factory.__name__} ") + ".*" + re.escape(text)):
        factory(**kwargs)


# -- the machine running the tests ---------------------------------------------------------------

SOURCE = re.compile(r"(cgroup v[12]( \(limit set on /\S*\))?|host \([^)]*\)): ")


def test_memory_of_this_machine() -> None:
    result = memory_check()()
    assert isinstance(result, CheckResult)
    assert result.status in ("pass", "warn", "fail")
    assert result.unit == "ratio"
    assert 0 <= result.observed <= 1
    assert SOURCE.match(result.message or ""), result.message
    percent = re.search(r"\((\d+)%\)$", result.message or "")
    assert percent is not None
    assert abs(int(percent.group(1)) - result.observed * 100) <= 1  # the message floors the ratio


def test_cpu_of_this_machine() -> None:
    check = cpu_check()
    for since in ("since (the cgroup started|boot)", "since the last run"):
        result = check()
        assert isinstance(result, CheckResult)
        assert result.unit == "ratio"
        assert 0 <= result.observed <= 1
        assert SOURCE.match(result.message or ""), result.message
        assert re.search(since, result.message or ""), result.message
