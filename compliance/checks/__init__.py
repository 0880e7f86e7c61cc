"""The check kinds: one module each, listed here once. A rule file names its kind."""

from __future__ import annotations

from types import ModuleType

from compliance.checks import (
    consent_terms,
    contact_details,
    coverage,
    dated_rule,
    dlt_template,
    duplicates,
    fallback_clean,
    field_length,
    hidden,
    identification,
    links,
    market_pack,
    opt_out,
    placeholders,
    positional,
    references,
    registration_category,
    registration_fields,
    required_field,
    schema,
    scope_consent,
    sender_id,
    sender_types,
    sms_encoding,
    suppressions,
    syntax,
    text_match,
    use_case,
    whatsapp_auth,
)

_KINDS: tuple[ModuleType, ...] = (
    syntax,
    schema,
    references,
    duplicates,
    coverage,
    placeholders,
    hidden,
    sms_encoding,
    market_pack,
    suppressions,
    text_match,
    opt_out,
    links,
    sender_types,
    sender_id,
    registration_fields,
    use_case,
    scope_consent,
    consent_terms,
    field_length,
    positional,
    registration_category,
    dated_rule,
    required_field,
    fallback_clean,
    dlt_template,
    whatsapp_auth,
    contact_details,
    identification,
)


def registry() -> dict[str, ModuleType]:
    return {module.KIND: module for module in _KINDS}
