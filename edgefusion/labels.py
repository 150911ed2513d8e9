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

# EmoDB emotion letter (fifth character of SSTTTEV) -> CREMA-D code; None = dropped.
EMODB_EMOTIONS: dict[str, str | None] = {
    "W": "ANG",  # Wut
    "E": "DIS",  # Ekel
    "A": "FEA",  # Angst
    "F": "HAP",  # Freude
    "N": "NEU",  # neutral
    "T": "SAD",  # Trauer
    "L": None,  # Langeweile (boredom)
}

# EMOVO emotion field (first of EMO-SPK-SEN) -> CREMA-D code; None = dropped.
EMOVO_EMOTIONS: dict[str, str | None] = {
    "rab": "ANG",  # rabbia
    "dis": "DIS",  # disgusto
    "pau": "FEA",  # paura
    "gio": "HAP",  # gioia
    "neu": "NEU",  # neutro
    "tri": "SAD",  # tristezza
    "sor": None,  # sorpresa (surprise)
}
EMOVO_SPEAKERS: tuple[str, ...] = ("f1", "f2", "f3", "m1", "m2", "m3")

# TESS folder emotion (SPEAKER_EMOTION, lower case) -> CREMA-D code; None = dropped. Public
# copies spell pleasant surprise three ways.
TESS_EMOTIONS: dict[str, str | None] = {
    "angry": "ANG",
    "disgust": "DIS",
    "fear": "FEA",
    "happy": "HAP",
    "neutral": "NEU",
    "sad": "SAD",
    "pleasant_surprise": None,
    "pleasant_surprised": None,
    "ps": None,
}
TESS_SPEAKERS: tuple[str, ...] = ("OAF", "YAF")
