"""Journeys: the analyses over each customer's events across channels (see ARCHITECTURE.md)."""
