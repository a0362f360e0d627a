"""The card rules of CDS Hooks 2.0, as a test helper: `problems(response)` lists every
rule a CDS service response breaks (empty when valid); `assert_valid(response)` fails
with them.

Rules (CDS Hooks 2.0 "CDS Service Response" and "Card Attributes", `HL7/cds-hooks`
`input/pagecontent/index.md`, invariants `input/fsh/invariants/cds-resp-*.fsh`):
- the response is an object with a `cards` array (and optionally `systemActions`);
- card: `summary` a string of fewer than 140 characters; `indicator` info | warning |
  critical; `source` an object with a string `label` (optional `url` absolute, `icon`
  absolute, `topic` a Coding); `detail` a string when present; `uuid` a string when
  present (needed for feedback);
- `suggestions`: each with a string `label`, optional `uuid`, `isRecommended` boolean,
  `actions` each with `type` create | update | delete, a string `description`
  when present, a `resource` for create/update, a `resourceId` string (or list) when
  present; suggestion uuids unique within the card;
- `selectionBehavior` present if and only if there are suggestions, and at-most-one |
  any;
- `overrideReasons`: Codings, each with `code` and `display` (display is required);
- `links`: each with `label`, absolute `url`, `type` absolute | smart, `appContext` a
  string when present, `autolaunchable` a boolean when present.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

INDICATORS = ("info", "warning", "critical")
ACTION_TYPES = ("create", "update", "delete")
SELECTION_BEHAVIORS = ("at-most-one", "any")
LINK_TYPES = ("absolute", "smart")
SUMMARY_LIMIT = 140


def _absolute(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return bool(parts.scheme and parts.netloc)


def _coding(value: Any, where: str, *, display_required: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: a Coding object"]
    found = []
    if not isinstance(value.get("code"), str) or not value["code"]:
        found.append(f"{where}.code: required string")
    if "system" in value and not isinstance(value["system"], str):
        found.append(f"{where}.system: a string")
    display = value.get("display")
    if (display_required or display is not None) and (not isinstance(display, str)
                                                      or not display):
        found.append(f"{where}.display: required string")
    return found


def card_problems(card: Any, where: str = "card") -> list[str]:
    if not isinstance(card, dict):
        return [f"{where}: a card is an object"]
    found: list[str] = []
    summary = card.get("summary")
    if not isinstance(summary, str) or not summary:
        found.append(f"{where}.summary: required string")
    elif len(summary) >= SUMMARY_LIMIT:
        found.append(f"{where}.summary: {len(summary)} characters, must be < 140")
    if card.get("indicator") not in INDICATORS:
        found.append(f"{where}.indicator: {card.get('indicator')!r} not in {INDICATORS}")
    for name in ("uuid", "detail"):
        if name in card and not isinstance(card[name], str):
            found.append(f"{where}.{name}: a string")
    source = card.get("source")
    if not isinstance(source, dict):
        found.append(f"{where}.source: required object")
    else:
        if not isinstance(source.get("label"), str) or not source["label"]:
            found.append(f"{where}.source.label: required string")
        for name in ("url", "icon"):
            if name in source and not _absolute(source[name]):
                found.append(f"{where}.source.{name}: an absolute URL")
        if "topic" in source:
            found += _coding(source["topic"], f"{where}.source.topic",
                             display_required=False)
    suggestions = card.get("suggestions")
    if suggestions is not None:
        if not isinstance(suggestions, list):
            found.append(f"{where}.suggestions: an array")
            suggestions = []
        seen: set[str] = set()
        for i, suggestion in enumerate(suggestions):
            found += _suggestion_problems(suggestion, f"{where}.suggestions[{i}]", seen)
    has_suggestions = bool(suggestions)
    behavior = card.get("selectionBehavior")
    if has_suggestions and behavior not in SELECTION_BEHAVIORS:
        found.append(f"{where}.selectionBehavior: {behavior!r}: required with suggestions, "
                     f"one of {SELECTION_BEHAVIORS}")
    if not has_suggestions and behavior is not None:
        found.append(f"{where}.selectionBehavior: only with suggestions")
    reasons = card.get("overrideReasons")
    if reasons is not None:
        if not isinstance(reasons, list):
            found.append(f"{where}.overrideReasons: an array")
        else:
            for i, reason in enumerate(reasons):
                found += _coding(reason, f"{where}.overrideReasons[{i}]",
                                 display_required=True)
    links = card.get("links")
    if links is not None:
        if not isinstance(links, list):
            found.append(f"{where}.links: an array")
        else:
            for i, link in enumerate(links):
                found += _link_problems(link, f"{where}.links[{i}]")
    return found


def _suggestion_problems(suggestion: Any, where: str, seen: set[str]) -> list[str]:
    if not isinstance(suggestion, dict):
        return [f"{where}: an object"]
    found: list[str] = []
    if not isinstance(suggestion.get("label"), str) or not suggestion["label"]:
        found.append(f"{where}.label: required string")
    if "uuid" in suggestion:
        if not isinstance(suggestion["uuid"], str):
            found.append(f"{where}.uuid: a string")
        elif suggestion["uuid"] in seen:
            found.append(f"{where}.uuid: repeated within the card")
        else:
            seen.add(suggestion["uuid"])
    if "isRecommended" in suggestion and not isinstance(suggestion["isRecommended"], bool):
        found.append(f"{where}.isRecommended: a boolean")
    actions = suggestion.get("actions")
    if actions is not None:
        if not isinstance(actions, list):
            return [*found, f"{where}.actions: an array"]
        for i, action in enumerate(actions):
            at = f"{where}.actions[{i}]"
            if not isinstance(action, dict):
                found.append(f"{at}: an object")
                continue
            if action.get("type") not in ACTION_TYPES:
                found.append(f"{at}.type: {action.get('type')!r} not in {ACTION_TYPES}")
            if "description" in action and not isinstance(action["description"], str):
                found.append(f"{at}.description: a string")
            if action.get("type") in ("create", "update"):
                resource = action.get("resource")
                if not isinstance(resource, dict) or not isinstance(
                        resource.get("resourceType"), str):
                    found.append(f"{at}.resource: a FHIR resource for {action['type']}")
            if "resourceId" in action and not isinstance(action["resourceId"], str | list):
                found.append(f"{at}.resourceId: a reference string")
    return found


def _link_problems(link: Any, where: str) -> list[str]:
    if not isinstance(link, dict):
        return [f"{where}: an object"]
    found = []
    if not isinstance(link.get("label"), str) or not link["label"]:
        found.append(f"{where}.label: required string")
    if not _absolute(link.get("url")):
        found.append(f"{where}.url: required absolute URL")
    if link.get("type") not in LINK_TYPES:
        found.append(f"{where}.type: {link.get('type')!r} not in {LINK_TYPES}")
    if "appContext" in link and not isinstance(link["appContext"], str):
        found.append(f"{where}.appContext: a string")
    if "autolaunchable" in link and not isinstance(link["autolaunchable"], bool):
        found.append(f"{where}.autolaunchable: a boolean")
    return found


def problems(response: Any) -> list[str]:
    """Every card rule the response breaks; [] when it is valid."""
    if not isinstance(response, dict):
        return ["response: an object"]
    cards = response.get("cards")
    if not isinstance(cards, list):
        return ["response.cards: required array"]
    found: list[str] = []
    uuids = [c.get("uuid") for c in cards if isinstance(c, dict) and "uuid" in c]
    if len(uuids) != len(set(uuids)):
        found.append("response.cards: card uuids repeat")
    for i, card in enumerate(cards):
        found += card_problems(card, f"cards[{i}]")
    if "systemActions" in response and not isinstance(response["systemActions"], list):
        found.append("response.systemActions: an array")
    return found


def assert_valid(response: Any) -> None:
    found = problems(response)
    assert not found, "invalid CDS Hooks response:\n" + "\n".join(found)
