"""How every part of the inventory reads its keys, in one place.

Unknown keys are errors (a typo must not be ignored), keys may be snake_case or camelCase, and a
loaded inventory is immutable. Models set ``model_config = INVENTORY_CONFIG``.
"""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

INVENTORY_CONFIG = ConfigDict(
    extra="forbid",
    alias_generator=to_camel,
    validate_by_name=True,
    validate_by_alias=True,
    frozen=True,
)
