"""Field normalisers used by the input schemas: e-mail, phone (E.164), currency, language."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

ISO_CURRENCIES = frozenset({
    "EUR", "USD", "GBP", "CHF", "JPY", "CNY", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "CAD", "AUD",
    "NZD", "INR", "BRL", "MXN", "ZAR", "TRY", "SGD", "HKD", "AED", "SAR", "ILS", "RON", "BGN",
})


def normalise_email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address ({exc})") from None


def normalise_phone(value: str, default_region: str = "DE") -> str:
    raw = value.strip()
    try:
        num = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a valid phone number") from None
    if not phonenumbers.is_possible_number(num) or len(str(num.national_number)) < 6:
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def normalise_currency(value: str) -> str:
    code = value.strip().upper()
    if code not in ISO_CURRENCIES:
        raise ValueError("not a supported ISO 4217 currency code")
    return code
