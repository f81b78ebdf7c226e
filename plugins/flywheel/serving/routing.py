"""Champion/challenger routing by a stable hash of the entity id.

An entity's position in [0, 1) depends only on the model name and the entity id, so the same booking always meets
the same arm, and when the challenger's share grows from 10 % to 50 % the first 10 % stay with it.
"""

from __future__ import annotations

import hashlib

CHAMPION_ARM, CHALLENGER_ARM = "champion", "challenger"
SHADOW_ARM = "shadow"  # the challenger's scores in a shadow stage: logged beside the champion's, never answered


def position(model: str, entity_id: str) -> float:
    digest = hashlib.sha256(f"{model}\x1f{entity_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def arm_for(model: str, entity_id: str, challenger_share: float) -> str:
    """``challenger_share`` in [0, 1]."""
    return CHALLENGER_ARM if position(model, entity_id) < challenger_share else CHAMPION_ARM
