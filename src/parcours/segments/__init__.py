"""Segments and scores, the fourth station: who the customers are and what they are worth —
segments, tiers, RFM, personas, health, milestones, churn risk and lifetime value."""
