"""ICH E2B(R3) acknowledgements (MCCI_IN200101UV01): writing them for batches medsafe
receives, reading them for batches medsafe sent.

Structure and conventions from FDA's examples R3ack-positive.ack and R3ack-negative.ack
(../shared/data/e2b-examples) and the ICH ICSR Implementation Guide (12 April 2013),
section 4 (ACK.M, ACK.A, ACK.B elements):
- ACK.A.4 (batch): AA = every message loaded, no further action; AE = error detected,
  some message(s) need further action (FDA's negative example: one message CR); AR = the
  batch could not be parsed, nothing extracted, re-send it all (`batch_rejection`).
- ACK.B.r.6 (message): CA = loaded (warnings may ride along), CR = a fatal error stopped
  it. A message is CR when any of its problems is a rejection.
- ACK.B.r.1 is the message number N.2.r.1 (the IG: "the same as N.2.r.1 and C.1.1");
  ACK.B.r.7 and ACK.A.5 are free text of at most 250 characters.
- medsafe writes one acknowledgementDetail per problem (FDA's example packs several
  messages into one text, separated by ";"); reading keeps each detail's text as sent.
- FDA's positive example names the acknowledged message as "<N.2.r.1> <C.1.1>" in one
  id; `MessageAck.refers_to` matches either form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from lxml import etree

from medsafe.errors import Invalid
from medsafe.interop.e2b import codes as c
from medsafe.interop.e2b.hl7 import NS, XSI, child, datetime_to_ts, p, q, ts_to_datetime
from medsafe.interop.e2b.reader import E2bMessage
from medsafe.interop.e2b.safe_xml import parse_xml
from medsafe.interop.e2b.validation import Problem

BatchCode = Literal["AA", "AE", "AR"]
MessageCode = Literal["CA", "CR"]
TEXT_MAX = 250  # ACK.A.5 and ACK.B.r.7
BATCH_TEXTS: dict[BatchCode, str] = {
    "AA": "message successfully processed, no further action",
    "AE": "some ICSR message(s) need further action",
    "AR": "batch rejected: no data extracted, re-send the entire transaction",
}
LOADED = "ICSR loaded"
SCHEMA_LOCATION = "urn:hl7-org:v3 MCCI_IN200101UV01.xsd"


@dataclass(frozen=True, slots=True)
class MessageAck:
    """ACK.B.r: the acknowledgement of one ICSR message."""

    message_id: str  # ACK.B.r.1
    code: MessageCode  # ACK.B.r.6
    local_report_number: str | None  # ACK.B.r.2
    receiver: str | None  # ACK.B.r.3 (who sent the ICSR)
    sender: str | None  # ACK.B.r.4 (who received it)
    message_created: datetime | None  # ACK.B.r.5
    details: tuple[str, ...]  # ACK.B.r.7

    @property
    def accepted(self) -> bool:
        return self.code == "CA"

    def refers_to(self, message_id: str) -> bool:
        """True when this acknowledges `message_id` (N.2.r.1 or C.1.1): the id as sent, or
        one of the space-separated ids FDA sometimes puts in ACK.B.r.1."""
        return message_id == self.message_id or message_id in self.message_id.split()


@dataclass(frozen=True, slots=True)
class Ack:
    """An acknowledgement batch: ACK.M and ACK.A, and one ACK.B.r per message."""

    ack_id: str  # ACK.M.1
    created: datetime | None  # ACK.M.4
    sender: str | None  # ACK.M.2
    receiver: str | None  # ACK.M.3
    batch_id: str | None  # ACK.A.1, the acknowledged batch's N.1.2
    local_message_number: str | None  # ACK.A.2
    batch_transmitted: datetime | None  # ACK.A.3
    code: BatchCode  # ACK.A.4
    details: tuple[str, ...]  # ACK.A.5
    messages: tuple[MessageAck, ...]

    @property
    def accepted(self) -> bool:
        return self.code == "AA"


# --- writing --------------------------------------------------------------------------

def _device(parent: etree._Element, tag: str, type_code: str, value: str | None,
            root: str) -> None:
    device = child(child(parent, tag, typeCode=type_code), "device", classCode="DEV",
                 determinerCode="INSTANCE")
    if value is None:
        child(device, "id", root=root, nullFlavor="NI")
    else:
        child(device, "id", extension=value, root=root)


def _short(text: str) -> str:
    return text if len(text) <= TEXT_MAX else text[:TEXT_MAX - 3] + "..."


def _batch_root(ack_id: str, created: datetime) -> etree._Element:
    namespaces = cast("dict[str, str]", {None: NS, "xsi": XSI})  # None: default namespace
    root = etree.Element(q("MCCI_IN200101UV01"), nsmap=namespaces)
    root.set("ITSVersion", "XML_1.0")
    root.set(f"{{{XSI}}}schemaLocation", SCHEMA_LOCATION)
    child(root, "id", extension=ack_id, root=c.ROOT_ACK_BATCH)
    child(root, "creationTime", value=datetime_to_ts(created))
    child(root, "responseModeCode", code="D")
    child(root, "interactionId", extension="MCCI_IN200101UV01", root=c.INTERACTION)
    return root


def _batch_tail(root: etree._Element, *, code: BatchCode, ack_id: str,
                batch_id: str | None, batch_sender: str | None,
                batch_receiver: str | None, batch_created: datetime | None,
                details: Sequence[str]) -> None:
    _device(root, "receiver", "RCV", batch_sender, c.ROOT_ACK_BATCH_RECEIVER)
    _device(root, "sender", "SND", batch_receiver, c.ROOT_ACK_BATCH_SENDER)
    line = child(root, "attentionLine")
    child(line, "keyWordText", code="2", codeSystem=c.ACK_KEYWORDS, codeSystemVersion="1.0",
        displayName="acknowledgementLocalMessageNumber")
    child(line, "value", xsi_type="II", extension=ack_id, root=c.ROOT_ACK_LOCAL_MESSAGE)
    line = child(root, "attentionLine")
    child(line, "keyWordText", code="3", codeSystem=c.ACK_KEYWORDS, codeSystemVersion="1.0",
        displayName="dateOfIcsrBatchTransmission")
    if batch_created is None:
        child(line, "value", xsi_type="TS", nullFlavor="NI")
    else:
        child(line, "value", xsi_type="TS", value=datetime_to_ts(batch_created))
    acknowledgement = child(root, "acknowledgement", typeCode=code)
    target = child(acknowledgement, "targetBatch")
    if batch_id is None:
        child(target, "id", root=c.ROOT_BATCH, nullFlavor="NI")
    else:
        child(target, "id", extension=batch_id, root=c.ROOT_BATCH)
    for detail in details:
        child(child(acknowledgement, "acknowledgementDetail"), "text", _short(detail))


def _message_ack(root: etree._Element, message: E2bMessage, problems: Sequence[Problem],
                 *, local_number: str, created: datetime) -> None:
    node = child(root, "MCCI_IN000002UV01")
    child(node, "id", extension=local_number, root=c.ROOT_ACK_LOCAL_REPORT)
    child(node, "creationTime", value=datetime_to_ts(created))
    child(node, "interactionId", extension="MCCI_IN000002UV01", root=c.INTERACTION)
    child(node, "processingCode", code="P")
    child(node, "processingModeCode", code="T")
    child(node, "acceptAckCode", code="NE")
    _device(node, "receiver", "RCV", message.sender_id, c.ROOT_ACK_MESSAGE_RECEIVER)
    _device(node, "sender", "SND", message.receiver_id, c.ROOT_ACK_MESSAGE_SENDER)
    line = child(node, "attentionLine")
    child(line, "keyWordText", code="1", codeSystem=c.ACK_KEYWORDS, codeSystemVersion="1.0",
        displayName="dateOfIcsrMessageCreation")
    if message.message_created is None:
        child(line, "value", xsi_type="TS", nullFlavor="NI")
    else:
        child(line, "value", xsi_type="TS", value=datetime_to_ts(message.message_created))
    code: MessageCode = "CR" if any(p.rejects for p in problems) else "CA"
    acknowledgement = child(node, "acknowledgement", typeCode=code)
    child(child(acknowledgement, "targetMessage"), "id", extension=message.message_id,
        root=c.ROOT_MESSAGE)
    texts = [f"{p.message}" + (f" ({p.location})" if p.location else "") for p in problems]
    for text in texts or [LOADED]:
        child(child(acknowledgement, "acknowledgementDetail"), "text", _short(text))


def acknowledgement(messages: Sequence[E2bMessage], problems: Sequence[Sequence[Problem]],
                    *, ack_id: str, created: datetime) -> bytes:
    """The acknowledgement of a received batch: `messages` as `read_e2b` returned them,
    `problems[i]` the problems of `messages[i]` (as `validation.validate_batch` gives)."""
    if not messages:
        raise Invalid("an acknowledgement needs the batch's messages; use batch_rejection "
                      "for a batch that could not be read", where="messages")
    if len(problems) != len(messages):
        raise Invalid(f"{len(messages)} messages but {len(problems)} problem lists",
                      where="problems")
    first = messages[0]
    root = _batch_root(ack_id, created)
    for number, (message, found) in enumerate(zip(messages, problems, strict=True), 1):
        _message_ack(root, message, found, local_number=f"{ack_id}-{number}",
                     created=created)
    rejected = any(p.rejects for found in problems for p in found)
    code: BatchCode = "AE" if rejected else "AA"
    _batch_tail(root, code=code, ack_id=ack_id, batch_id=first.batch_id,
                batch_sender=first.batch_sender, batch_receiver=first.batch_receiver,
                batch_created=first.batch_created, details=[BATCH_TEXTS[code]])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def batch_rejection(reason: str, *, ack_id: str, created: datetime,
                    batch_id: str | None = None, batch_sender: str | None = None,
                    batch_receiver: str | None = None,
                    batch_created: datetime | None = None) -> bytes:
    """An AR acknowledgement for a batch that could not be read (e.g. `read_e2b` raised
    Invalid): no message is acknowledged; `reason` is the batch validation error."""
    root = _batch_root(ack_id, created)
    _batch_tail(root, code="AR", ack_id=ack_id, batch_id=batch_id,
                batch_sender=batch_sender, batch_receiver=batch_receiver,
                batch_created=batch_created, details=[reason])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --- reading --------------------------------------------------------------------------

def _kid(node: etree._Element | None, path: str) -> etree._Element | None:
    return None if node is None else node.find(p(path))


def _ext(node: etree._Element | None) -> str | None:
    if node is None or node.get("nullFlavor") is not None:
        return None
    return node.get("extension")


def _text(node: etree._Element) -> str:
    return "".join(t if isinstance(t, str) else t.decode() for t in node.itertext()).strip()


def _stamp(node: etree._Element | None, element: str, source: str | None) -> datetime | None:
    value = None if node is None or node.get("nullFlavor") else node.get("value")
    if value is None:
        return None
    try:
        return ts_to_datetime(value)
    except ValueError as error:
        raise Invalid(f"{element}: {error}", where=source) from None


def _attention(node: etree._Element, keyword: str) -> etree._Element | None:
    for line in node.findall(q("attentionLine")):
        word = line.find(q("keyWordText"))
        if word is not None and word.get("code") == keyword:
            return line.find(q("value"))
    return None


def _details(acknowledgement: etree._Element | None) -> tuple[str, ...]:
    if acknowledgement is None:
        return ()
    return tuple(t for t in (_text(d) for d in acknowledgement.findall(
        p("acknowledgementDetail/text"))) if t)


def _code(acknowledgement: etree._Element | None, allowed: tuple[str, ...], element: str,
          source: str | None) -> str:
    code = None if acknowledgement is None else acknowledgement.get("typeCode")
    if code not in allowed:
        raise Invalid(f"{element} contains invalid value '{code}' (allowed: "
                      f"{', '.join(allowed)})", where=source)
    return code


def _read_message(node: etree._Element, source: str | None) -> MessageAck:
    acknowledgement = node.find(q("acknowledgement"))
    message_id = _ext(_kid(acknowledgement, "targetMessage/id"))
    if message_id is None:
        raise Invalid("ACK.B.r.1: the acknowledged message has no id", where=source)
    return MessageAck(
        message_id=message_id,
        code=cast(MessageCode, _code(acknowledgement, ("CA", "CR"), "ACK.B.r.6", source)),
        local_report_number=_ext(node.find(q("id"))),
        receiver=_ext(_kid(node, "receiver/device/id")),
        sender=_ext(_kid(node, "sender/device/id")),
        message_created=_stamp(_attention(node, "1"), "ACK.B.r.5", source),
        details=_details(acknowledgement))


def read_acknowledgement(data: bytes, *, source_name: str | None = None) -> Ack:
    """An E2B(R3) acknowledgement (MCCI_IN200101UV01), as FDA sends for an ICSR batch."""
    root = parse_xml(data, source_name=source_name)
    if root.tag != q("MCCI_IN200101UV01"):
        raise Invalid(f"not an E2B(R3) acknowledgement: the root element is "
                      f"'{etree.QName(root).localname}', expected MCCI_IN200101UV01 in "
                      "urn:hl7-org:v3", where=source_name)
    ack_id = _ext(root.find(q("id")))
    if ack_id is None:
        raise Invalid("ACK.M.1: the acknowledgement has no batch number", where=source_name)
    acknowledgement = root.find(q("acknowledgement"))
    local = _attention(root, "2")
    return Ack(
        ack_id=ack_id,
        created=_stamp(root.find(q("creationTime")), "ACK.M.4", source_name),
        sender=_ext(_kid(root, "sender/device/id")),
        receiver=_ext(_kid(root, "receiver/device/id")),
        batch_id=_ext(_kid(acknowledgement, "targetBatch/id")),
        local_message_number=_ext(local),
        batch_transmitted=_stamp(_attention(root, "3"), "ACK.A.3", source_name),
        code=cast(BatchCode, _code(acknowledgement, ("AA", "AE", "AR"), "ACK.A.4",
                                   source_name)),
        details=_details(acknowledgement),
        messages=tuple(_read_message(node, source_name)
                       for node in root.findall(q("MCCI_IN000002UV01"))))
