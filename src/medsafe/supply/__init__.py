"""The supply chain's records: products and their lots, stock per pharmacy and lot,
prescriptions, and the dispensing records that answer "who received lot X?".

Services here follow the rules of `medsafe.records`: one use case, one transaction, its
audit event inside it, object-level visibility enforced here and reported as not found.
"""
