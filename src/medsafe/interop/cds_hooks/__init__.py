"""CDS Hooks 2.0: decision support asked for by an EHR while an order is written.

`security` checks who is calling (the CDS client's signed JWT). The service endpoints
call it; this package imports nothing on its own, so reading cards or requests does not
pull in the JWT and cryptography libraries.
"""
