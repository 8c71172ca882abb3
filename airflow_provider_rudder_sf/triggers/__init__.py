"""Triggers: what the triggerer runs while a deferred task waits."""
