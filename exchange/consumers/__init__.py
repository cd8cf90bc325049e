"""Consumer systems: approval systems registered to send signed requests."""
