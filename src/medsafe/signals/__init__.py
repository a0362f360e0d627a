"""Signal detection over report databases (issue 5): disproportionality statistics,
the empirical-Bayes prior, counting engines and signal management."""
