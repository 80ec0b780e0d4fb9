"""The named-entity types of the ner task and their IOB2 tags, in the one order every stage uses.

tasks writes gold and silver tags over these types, finetune trains on them, evaluate scores
each of them, and report shows them in this order.
"""

from __future__ import annotations

ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
# "O", then B-/I- of each type: the label ids of data/tasks/ner/labels.json.
IOB2_TAGS = ("O", *(f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I")))
