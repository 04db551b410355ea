"""Automations: customer journeys that act — triggers, waits, branches, sends (station 5)."""
