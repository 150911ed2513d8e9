"""The six emotion classes and the corpus label maps.

The class order is the CREMA-D one and is part of the tensor contract: index i of every
``logits`` output is ``CLASSES[i]``.
"""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad")
NUM_CLASSES = len(CLASSES)

CREMAD_CODES: dict[str, int] = {code: i for i, code in enumerate(CLASSES)}

# RAVDESS emotion field (third of seven) -> CREMA-D code; None = no CREMA-D class (dropped).
RAVDESS_EMOTIONS: dict[str, str | None] = {
    "01": "NEU",
    "02": None,  # calm
    "03": "HAP",
    "04": "SAD",
    "05": "ANG",
    "06": "FEA",
    "07": "DIS",
    "08": None,  # surprised
}
RAVDESS_CALM = "02"
