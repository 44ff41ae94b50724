"""Custom Great Expectations expectations for AI training data. Importing this module
registers them with GX, so specs can name them by their snake_case type."""

from __future__ import annotations

import great_expectations as gx

from laas.validators.text import CONTROL_OR_REPLACEMENT, PII_PATTERNS


class ExpectColumnValuesToBeFreeOfPii(gx.expectations.ExpectColumnValuesToNotMatchRegexList):
    """No value contains an email address, a phone number or a card-like digit run."""

    regex_list: list[str] = list(PII_PATTERNS)
    match_on: str = "any"


class ExpectColumnValuesToBeCleanText(gx.expectations.ExpectColumnValuesToNotMatchRegex):
    """No control characters and no U+FFFD (the mark of text that was decoded wrongly)."""

    regex: str = CONTROL_OR_REPLACEMENT
