"""pytest plugin exposing the ``salesforce_emulator`` fixture (filled in by the emulator work)."""
