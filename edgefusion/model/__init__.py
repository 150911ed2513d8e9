"""The shared-encoder network, its log-mel front end, and checkpoints."""

from edgefusion.model.network import EmotionNet

__all__ = ["EmotionNet"]
