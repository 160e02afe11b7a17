"""The engine: evaluating fields with fresh results, single flight, timeouts and schedules.

:mod:`.policy` decides (pure functions), :mod:`.flight` keeps one run per field,
:mod:`.election` picks one process per ttl for shared fields, :mod:`.execute` runs user code,
:mod:`.pool` lends threads (:mod:`.wake` wakes them, and the requests waiting on them, through
pipes), :mod:`.scheduler` runs periodic fields, and :mod:`.runner` puts them together.
Nothing here imports Flask.
"""
