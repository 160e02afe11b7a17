"""Turning reports into what a client reads: :mod:`.json` bodies and the HTML :mod:`.page`."""
