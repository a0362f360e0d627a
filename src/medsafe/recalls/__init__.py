"""Recalls (pure domain and record): the 21 CFR Part 7 recall life cycle, the
investigation that leads to a recall decision, and local deadline policy."""
