"""The web side: :mod:`.views` answer requests, :mod:`.events` announce status transitions."""
