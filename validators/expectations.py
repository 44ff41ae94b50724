"""Custom Great Expectations expectations for AI training data. Importing this module
registers them with GX, so specs can name them by their snake_case type."""

from __future__ import annotations

import great_expectations as gx

# Deliberately broad: a screen flags rows for a look, it does not prove absence of PII.
PII_PATTERNS = [
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}",  # email addresses
    r"(?<!\w)\+?\d{1,3}?[ (.-]*\d{3}[ ).-]*\d{3}[ .-]*\d{4}(?!\w)",  # phone numbers
    r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)",  # card-like digit runs
]
CONTROL_OR_REPLACEMENT = r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd]"


class ExpectColumnValuesToBeFreeOfPii(gx.expectations.ExpectColumnValuesToNotMatchRegexList):
    """No value contains an email address, a phone number or a card-like digit run."""

    regex_list: list[str] = PII_PATTERNS
    match_on: str = "any"


class ExpectColumnValuesToBeCleanText(gx.expectations.ExpectColumnValuesToNotMatchRegex):
    """No control characters and no U+FFFD (the mark of text that was decoded wrongly)."""

    regex: str = CONTROL_OR_REPLACEMENT
