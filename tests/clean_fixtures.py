"""Shared text for the clean tests: one paragraph of plain English prose."""

PROSE = (
    "The river that runs through the old town has shaped its history for many centuries. "
    "Merchants built their warehouses along the banks, and the bridges became places where "
    "people met to trade and to talk. In the winter the water rises, and the lower streets "
    "are sometimes flooded for a few days. The town council has argued for years about how "
    "to protect the houses that stand closest to the water."
)
