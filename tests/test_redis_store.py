"""RedisStore against real, private redis-servers: round trips, expiry, locks, namespaces, outages.

Every server here is started by this module on a free port of 127.0.0.1 and stopped at
teardown; the shared servers of ``.ci/services.sh`` are never touched. Without
``redis-server`` (or redis-py) the tests are skipped when run by hand and fail under
``CI=true``.
"""

from __future__ import annotations

import json
import logging
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest
from _servers import RedisServer as Server
from _servers import free_port, private_redis

from flask_status.results import FieldResult
from flask_status.stores.redis import RedisStore, StoreUnavailable

pytestmark = pytest.mark.server

PASSWORD = "hunter2-s3cret"
# Far above the 0.5 s socket timeout, far below a retry loop or a default 5 s timeout.
PROMPT = 1.0
# Short, so the outage tests stay quick; long enough that a loaded machine does not end a
# pause before the test has looked at it.
RETRY_AFTER = 0.5


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One private redis-server for the tests that leave it running (tests that stop, pause or
    restart one start their own with the ``start_redis`` fixture)."""
    with private_redis() as instance:
        yield instance


@pytest.fixture
def raw(server: Server) -> Iterator[Any]:
    """A plain client of the module's server, emptied before each test."""
    client = server.client()
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def make_store(server: Server) -> Iterator[Callable[..., RedisStore]]:
    stores: list[RedisStore] = []

    def make(url: str | None = None, **options: Any) -> RedisStore:
        store = RedisStore(url or server.url(), **options)
        stores.append(store)
        return store

    try:
        yield make
    finally:
        for store in stores:
            store.close()


@pytest.fixture
def store(make_store: Callable[..., RedisStore]) -> RedisStore:
    return make_store(prefix="t")


def full_result() -> FieldResult:
    """A result with every attribute set to something other than its default."""
    return FieldResult(
        "database",
        "warn",
        value={"rows": [1, 2.5, None, "x"], "ok": True, "naïve": "ünïcode"},
        error="TimeoutError: no result within 2 s",
        message="replica lag 4 s",
        observed=4.25,
        unit="s",
        duration=0.0123,
        observed_at=12345.678,
        time=1767225600.5,
        timed_out=True,
    )


def records(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "flask_status" and r.levelno == level and text in r.getMessage()]


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        answer = call()
    except StoreUnavailable as exc:
        answer = exc
    return answer, time.monotonic() - started


# -- results --------------------------------------------------------------------------------------


def test_round_trip_keeps_every_field_as_json(store: RedisStore, raw: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pickle(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise AssertionError("pickle must never be used")

    for name in ("dumps", "loads", "dump", "load"):
        monkeypatch.setattr(pickle, name, no_pickle)
    result = full_result()
    store.put("database:app.checks.db", result, ttl=30)
    assert store.get("database:app.checks.db") == result

    stored = raw.get("t:result:database:app.checks.db")
    assert stored is not None
    assert not stored.startswith(b"\x80")  # no pickle protocol header
    assert json.loads(stored.decode("utf-8")) == result.to_dict()
    assert raw.type("t:result:database:app.checks.db") == b"string"
    assert 29_000 < raw.pttl("t:result:database:app.checks.db") <= 30_000


def test_defaults_and_plain_values_round_trip(store: RedisStore) -> None:
    values: list[Any] = [None, True, 0, -3, 2.5, "text", [], {}, [1, [2, [3]]]]
    for index, value in enumerate(values):
        result = FieldResult(f"f{index}", "pass", value=value)
        store.put(f"f{index}", result, ttl=5)
        assert store.get(f"f{index}") == result


def test_missing_key_is_none(store: RedisStore) -> None:
    assert store.get("never-put") is None


def test_results_expire(store: RedisStore, raw: Any) -> None:
    store.put("short", FieldResult("short", "pass"), ttl=0.3)
    assert 0 < raw.pttl("t:result:short") <= 300
    assert store.get("short") is not None
    time.sleep(0.4)
    assert store.get("short") is None
    assert raw.exists("t:result:short") == 0


def test_put_with_ttl_zero_deletes(store: RedisStore) -> None:
    store.put("gone", FieldResult("gone", "pass"), ttl=10)
    store.put("gone", FieldResult("gone", "fail"), ttl=0)
    assert store.get("gone") is None
    store.put("gone", FieldResult("gone", "fail"), ttl=-1)  # deleting a missing key is fine
    assert store.get("gone") is None


def test_sub_millisecond_ttl_still_keeps_the_value_briefly(store: RedisStore, raw: Any) -> None:
    store.put("tiny", FieldResult("tiny", "pass"), ttl=0.0001)
    assert raw.pttl("t:result:tiny") in (-2, 0, 1)  # PX 1: rounded up, never PX 0 (an error)


def test_bad_arguments_raise(store: RedisStore) -> None:
    result = FieldResult("x", "pass")
    with pytest.raises(ValueError, match="finite"):
        store.put("x", result, ttl=float("nan"))
    with pytest.raises(ValueError, match="finite"):
        store.put("x", result, ttl=float("inf"))
    with pytest.raises(TypeError, match="FieldResult"):
        store.put("x", {"name": "x", "status": "pass"}, ttl=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key must be a str"):
        store.get(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key must not be empty"):
        store.get("")
    with pytest.raises(ValueError, match="positive"):
        store.acquire("x", ttl=0)
    with pytest.raises(TypeError, match="token"):
        store.release("x", None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b"\xff\xfe\x00",
        pickle.dumps(FieldResult("x", "pass"), protocol=pickle.HIGHEST_PROTOCOL),
        b"[]",
        b"null",
        b'"pass"',
        b"{}",
        b'{"name": "x"}',
        b'{"name": "x", "status": "bogus"}',
        b'{"name": "", "status": "pass"}',
        b'{"name": 7, "status": "pass"}',
        b'{"name": "x", "status": "pass", "__class__": "os.system"}',
        b'{"name": "x", "status": "pass", "error": 3}',
        b'{"name": "x", "status": "pass", "duration": "slow"}',
        b'{"name": "x", "status": "pass", "time": true}',
        b'{"name": "x", "status": "pass", "observed_at": NaN}',
        b'{"name": "x", "status": "pass", "timed_out": "yes"}',
        b"[" * 100_000,
    ],
)
def test_corrupt_or_foreign_values_read_as_missing(
    store: RedisStore, raw: Any, value: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    raw.set("t:result:k", value)
    with caplog.at_level(logging.DEBUG, logger="flask_status"):
        assert store.get("k") is None
        assert store.get("k") is None
    assert len(records(caplog, logging.DEBUG, "ignored")) == 2
    # Said once per store as a warning (a planted value is news), never as an outage.
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "is not a result" in warnings[0]
    assert store.available


def test_partial_value_takes_defaults(store: RedisStore, raw: Any) -> None:
    raw.set("t:result:k", b'{"name": "x", "status": "fail", "error": "E: boom"}')
    assert store.get("k") == FieldResult("x", "fail", error="E: boom")


def test_key_of_another_type_reads_as_missing(store: RedisStore, raw: Any, caplog: pytest.LogCaptureFixture) -> None:
    raw.rpush("t:result:listy", "a")
    with caplog.at_level(logging.DEBUG, logger="flask_status"):
        assert store.get("listy") is None  # WRONGTYPE: not an outage
    assert store.available
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    store.put("listy", FieldResult("listy", "pass"), ttl=5)  # SET replaces a key of any type
    assert store.get("listy") == FieldResult("listy", "pass")


# -- namespaces -----------------------------------------------------------------------------------


def test_prefixes_do_not_see_each_other(make_store: Callable[..., RedisStore], raw: Any) -> None:
    first, second = make_store(prefix="app-a"), make_store(prefix="app-b")
    first.put("db", FieldResult("db", "pass", value="a"), ttl=30)
    assert second.get("db") is None
    second.put("db", FieldResult("db", "pass", value="b"), ttl=30)
    first_db, second_db = first.get("db"), second.get("db")
    assert first_db is not None
    assert first_db.value == "a"
    assert second_db is not None
    assert second_db.value == "b"
    assert sorted(raw.keys("*")) == [b"app-a:result:db", b"app-b:result:db"]
    assert first.acquire("db", ttl=5) is not None
    assert second.acquire("db", ttl=5) is not None  # one lock per prefix


def test_clear_deletes_only_its_own_results(make_store: Callable[..., RedisStore], raw: Any) -> None:
    star, plain, nested = make_store(prefix="x*"), make_store(prefix="xy"), make_store(prefix="x*:sub")
    for store in (star, plain, nested):
        for index in range(1200):  # more than one SCAN batch and one DEL batch
            store.put(f"k{index}", FieldResult("k", "pass"), ttl=30)
    raw.set("unrelated", b"keep me")
    raw.set("x*:other", b"keep me too")
    token = star.acquire("k1", ttl=30)
    assert token is not None

    star.clear()
    assert star.get("k1") is None
    assert raw.keys("x\\*:result:*") == []
    assert plain.get("k1") is not None  # "x*" is a literal prefix, not a pattern
    assert nested.get("k1") is not None
    assert raw.get("unrelated") == b"keep me"
    assert raw.get("x*:other") == b"keep me too"
    assert raw.get("x*:lock:k1") == token.encode()  # locks are left to expire
    assert raw.dbsize() == 2 * 1200 + 3


def test_clear_of_an_empty_prefix_is_fine(store: RedisStore, raw: Any) -> None:
    raw.set("unrelated", b"keep me")
    store.clear()  # nothing under the prefix yet: nothing deleted, no error
    store.clear()
    assert raw.keys("*") == [b"unrelated"]
    assert store.get("db") is None
    store.put("db", FieldResult("db", "pass"), ttl=30)  # the store still works afterwards
    assert store.get("db") == FieldResult("db", "pass")


# -- electing one runner --------------------------------------------------------------------------


def test_acquire_and_release(store: RedisStore, raw: Any) -> None:
    token = store.acquire("db", ttl=10)
    assert isinstance(token, str)
    assert len(token) == 32
    int(token, 16)
    assert raw.get("t:lock:db") == token.encode()
    assert 9_000 < raw.pttl("t:lock:db") <= 10_000
    assert store.acquire("db", ttl=10) is None  # held: a second acquire fails

    assert store.release("db", "0" * 32) is False  # a wrong token deletes nothing
    assert raw.get("t:lock:db") == token.encode()
    assert store.release("db", token) is True
    assert raw.exists("t:lock:db") == 0
    assert store.release("db", token) is False  # already released

    again = store.acquire("db", ttl=10)
    assert again is not None
    assert again != token


def test_lock_expires_by_itself_and_a_late_release_spares_the_new_holder(
    make_store: Callable[..., RedisStore], raw: Any
) -> None:
    first, second = make_store(prefix="t"), make_store(prefix="t")  # two processes, one prefix
    old = first.acquire("db", ttl=0.3)
    assert old is not None
    assert second.acquire("db", ttl=0.3) is None
    time.sleep(0.4)
    new = second.acquire("db", ttl=5)
    assert new is not None
    assert first.release("db", old) is False  # its lock expired: the new holder keeps theirs
    assert raw.get("t:lock:db") == new.encode()
    assert second.release("db", new) is True


def test_one_winner_among_threads(make_store: Callable[..., RedisStore]) -> None:
    stores = [make_store(prefix="t") for _ in range(4)]
    tokens: list[str | None] = []
    barrier = threading.Barrier(16)

    def contend(store: RedisStore) -> None:
        barrier.wait()
        tokens.append(store.acquire("busy", ttl=5))

    threads = [threading.Thread(target=contend, args=(stores[i % 4],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(tokens) == 16
    assert len([t for t in tokens if t is not None]) == 1


# -- construction -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "error", "match"),
    [
        ("", ValueError, "must not be empty"),
        ("my app", ValueError, "spaces"),
        ("tab\there", ValueError, "spaces"),
        ("app:result", ValueError, ":result"),
        ("app:lock:x", ValueError, ":lock"),
        (None, TypeError, "must be a str"),
        (b"bytes", TypeError, "must be a str"),
    ],
)
def test_bad_prefix(prefix: Any, error: type[Exception], match: str) -> None:
    pytest.importorskip("redis")
    with pytest.raises(error, match=match):
        RedisStore("redis://127.0.0.1:1/0", prefix=prefix)


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "", "tcp://:pw@host/0"])
def test_bad_url_scheme(url: str) -> None:
    pytest.importorskip("redis")
    with pytest.raises(ValueError, match="redis://, rediss:// or unix://") as info:
        RedisStore(url)
    assert "pw" not in str(info.value)


def test_unparsable_url_does_not_show_its_password() -> None:
    pytest.importorskip("redis")
    with pytest.raises(ValueError, match="invalid Redis URL") as info:
        RedisStore(f"redis://:{PASSWORD}@127.0.0.1:notaport/0")
    assert PASSWORD not in str(info.value)
    assert "***" in str(info.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"socket_timeout": 0}, "positive"),
        ({"socket_timeout": None}, "not None"),
        ({"socket_timeout": "1"}, "number"),
        ({"retry_after": -1}, "non-negative"),
        ({"retry_after": float("nan")}, "finite"),
    ],
)
def test_bad_timings(options: dict[str, Any], match: str) -> None:
    pytest.importorskip("redis")
    with pytest.raises((TypeError, ValueError), match=match):
        RedisStore("redis://127.0.0.1:1/0", **options)


def test_client_must_look_like_redis() -> None:
    pytest.importorskip("redis")
    import redis.asyncio

    with pytest.raises(TypeError, match=r"redis\.Redis client"):
        RedisStore(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"redis\.Redis client"):
        RedisStore(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="synchronous"):
        RedisStore(redis.asyncio.Redis(port=1))  # type: ignore[arg-type]


def test_missing_redis_py_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install 'flask-status\[redis\]'"):
        RedisStore("redis://127.0.0.1:6379/0")


def test_given_client_is_used_and_not_closed(server: Server, raw: Any, caplog: pytest.LogCaptureFixture) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(port=server.port, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        with caplog.at_level(logging.DEBUG, logger="flask_status"):
            store = RedisStore(client, prefix="given")
        assert not records(caplog, logging.WARNING, "")
        store.put("k", FieldResult("k", "pass"), ttl=5)
        assert raw.exists("given:result:k") == 1
        assert repr(store) == f"<RedisStore redis://localhost:{server.port}/0 prefix='given'>"
        store.close()
        assert client.ping()  # the caller's client stays open
    finally:
        client.close()


def test_client_with_decode_responses(server: Server, raw: Any) -> None:
    import redis

    client = redis.Redis(port=server.port, socket_timeout=1, socket_connect_timeout=1, decode_responses=True)
    try:
        store = RedisStore(client, prefix="text")
        result = full_result()
        store.put("k", result, ttl=5)
        assert store.get("k") == result
        assert json.loads(raw.get("text:result:k")) == result.to_dict()
        token = store.acquire("k", ttl=5)
        assert token is not None
        assert store.acquire("k", ttl=5) is None
        assert store.release("k", token) is True
        store.clear()
        assert store.get("k") is None
    finally:
        client.close()


def test_given_client_with_risky_timeouts_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    redis = pytest.importorskip("redis")
    client = redis.Redis(port=1, password=PASSWORD, socket_timeout=None)
    try:
        with caplog.at_level(logging.WARNING, logger="flask_status"):
            RedisStore(client)
        (warning,) = records(caplog, logging.WARNING, "may block")
        assert "no socket_timeout" in warning.getMessage()
        assert "10 retries" in warning.getMessage()  # redis-py's default retry policy
        assert PASSWORD not in caplog.text
    finally:
        client.close()


def test_repr_hides_the_password() -> None:
    pytest.importorskip("redis")
    store = RedisStore(f"redis://user:{PASSWORD}@127.0.0.1:1/0?socket_timeout=9", prefix="p")
    try:
        assert repr(store) == "<RedisStore redis://user:***@127.0.0.1:1/0 prefix='p'>"
    finally:
        store.close()


def test_reset_after_fork_keeps_the_store_working(store: RedisStore) -> None:
    old = store._lock
    old.acquire()  # as if another thread of the parent held it at the fork
    try:
        store.reset_after_fork()
        assert store._lock is not old
        store.put("k", FieldResult("k", "pass"), ttl=5)
        assert store.get("k") is not None
        assert store.available
    finally:
        old.release()


# -- outages ---------------------------------------------------------------------------------------


def test_outage_is_bounded_logged_once_without_password_then_recovers(
    start_redis: Callable[..., Server], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_redis(password=PASSWORD)
    store = RedisStore(server.url(), prefix="o", retry_after=RETRY_AFTER)
    caplog.set_level(logging.DEBUG, logger="flask_status")
    try:
        result = FieldResult("db", "pass", value=True)
        store.put("db", result, ttl=30)
        assert store.get("db") == result
        assert store.available

        server.stop()
        # Many threads hit the dead server at once: every one answers promptly, one warns.
        barrier = threading.Barrier(16)
        outcomes: list[tuple[Any, float]] = []

        def read() -> None:
            barrier.wait()
            outcomes.append(timed(lambda: store.get("db")))

        threads = [threading.Thread(target=read) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        assert [answer for answer, _ in outcomes] == [None] * 16
        assert max(took for _, took in outcomes) < PROMPT
        assert not store.available

        # Paused: acquire fails at once without a network call; the rest quietly do nothing.
        with monkeypatch.context() as patch:
            patch.setattr(store._client, "set", lambda *a, **k: pytest.fail("acquire touched Redis while paused"))
            answer, took = timed(lambda: store.acquire("db", ttl=5))
        assert isinstance(answer, StoreUnavailable)
        assert took < PROMPT
        _, took = timed(lambda: store.put("db", result, ttl=30))
        assert took < PROMPT
        assert store.get("db") is None
        assert store.release("db", "0" * 32) is False
        store.clear()

        time.sleep(RETRY_AFTER + 0.05)  # past retry_after: a probe, still refused, no second warning
        answer, took = timed(lambda: store.acquire("db", ttl=5))
        assert isinstance(answer, StoreUnavailable)
        assert took < PROMPT

        (warning,) = records(caplog, logging.WARNING, "")
        message = warning.getMessage()
        assert message.startswith("flask-status: shared store unreachable at redis://:***@127.0.0.1:")
        assert records(caplog, logging.DEBUG, "still unreachable")
        assert not records(caplog, logging.INFO, "reachable again")

        server.start()  # the same port, the same password, empty
        assert store.get("db") is None  # still paused (or, on a slow machine, a probe: empty)
        time.sleep(RETRY_AFTER + 0.05)
        store.put("db", result, ttl=30)  # the probe: it reaches Redis
        assert store.available
        assert store.get("db") == result
        token = store.acquire("db", ttl=5)
        assert token is not None
        assert store.release("db", token)

        assert len(records(caplog, logging.WARNING, "")) == 1
        (info,) = records(caplog, logging.INFO, "reachable again")
        assert (
            info.getMessage() == f"flask-status: shared store reachable again at redis://:***@127.0.0.1:{server.port}/0"
        )
        for record in caplog.records:
            text = record.getMessage() + (
                logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
            )
            assert PASSWORD not in text
        assert PASSWORD not in caplog.text
    finally:
        store.close()


def test_hung_server_is_bounded_by_the_socket_timeout(
    start_redis: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis()
    store = RedisStore(server.url(), prefix="h", socket_timeout=0.3, retry_after=0.3)
    caplog.set_level(logging.INFO, logger="flask_status")
    try:
        store.put("db", FieldResult("db", "pass"), ttl=30)
        server.pause()  # accepts connections, answers nothing
        try:
            answer, took = timed(lambda: store.get("db"))
            assert answer is None
            assert took < PROMPT
            answer, took = timed(lambda: store.acquire("db", ttl=5))
            assert isinstance(answer, StoreUnavailable)
            assert took < 0.1  # paused: no network call at all
        finally:
            server.resume()
        (warning,) = records(caplog, logging.WARNING, "unreachable")
        assert "TimeoutError" in warning.getMessage()
        time.sleep(0.35)
        assert store.get("db") == FieldResult("db", "pass")
        assert records(caplog, logging.INFO, "reachable again")
    finally:
        store.close()


def test_unreachable_from_the_start_and_wrong_password(
    start_redis: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis(password=PASSWORD)
    wrong = RedisStore(server.url("not-the-" + PASSWORD), prefix="w", retry_after=60)
    refused = RedisStore(f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0", prefix="r", retry_after=60)
    caplog.set_level(logging.DEBUG, logger="flask_status")
    try:
        for store in (wrong, refused):
            _, took = timed(lambda store=store: store.put("k", FieldResult("k", "pass"), ttl=5))  # type: ignore[misc]
            assert took < PROMPT
            assert store.get("k") is None
            assert not store.available
            with pytest.raises(StoreUnavailable):
                store.acquire("k", ttl=5)
        warnings = records(caplog, logging.WARNING, "shared store unreachable")
        assert len(warnings) == 2
        assert "AuthenticationError" in warnings[0].getMessage()
        assert "ConnectionError" in warnings[1].getMessage()
        assert PASSWORD not in caplog.text
    finally:
        wrong.close()
        refused.close()
