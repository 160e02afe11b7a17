"""Where results live between requests: :mod:`.memory` in the process, :mod:`.redis` across
processes and hosts, both behind the protocols of :mod:`.base`."""
