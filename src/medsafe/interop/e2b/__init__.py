"""ICH E2B(R3) ICSR exchange: read, write, validate and acknowledge (docs/e2b.md).

Pure functions over bytes; the CLI and the store call them. Sources: FDA's example
instances, acknowledgements and element/rule tables in ../shared/data/e2b-examples (the
tables are shipped in `data/`), and the ICH ICSR Implementation Guide (12 April 2013).
"""

from medsafe.interop.e2b.ack import (
    Ack,
    MessageAck,
    acknowledgement,
    batch_rejection,
    read_acknowledgement,
)
from medsafe.interop.e2b.reader import E2bMessage, read_e2b
from medsafe.interop.e2b.safe_xml import parse_xml
from medsafe.interop.e2b.validation import (
    Problem,
    Rule,
    consistency_rules,
    implemented_rules,
    table_rules,
    validate_batch,
    validate_message,
)
from medsafe.interop.e2b.writer import write_e2b

__all__ = [
    "Ack",
    "E2bMessage",
    "MessageAck",
    "Problem",
    "Rule",
    "acknowledgement",
    "batch_rejection",
    "consistency_rules",
    "implemented_rules",
    "parse_xml",
    "read_acknowledgement",
    "read_e2b",
    "table_rules",
    "validate_batch",
    "validate_message",
    "write_e2b",
]
