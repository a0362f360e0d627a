"""Care of the patients a recall touches: safe alternatives proposed on each patient's
own record, supervised switches (taper, titration, cross-titration), close monitoring
with a symptom and sleep diary, and alerts to the prescriber (docs/care.md)."""
