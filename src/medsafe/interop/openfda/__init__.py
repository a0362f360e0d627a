"""openFDA drug enforcement (recall) reports: NDCs, lots, reading and writing the JSON."""
