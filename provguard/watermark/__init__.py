"""Invisible watermarks: a keyed 64-bit payload codec and carriers for images (and audio, video)."""

from provguard.watermark.payload import PAYLOAD_BITS, PayloadCodec, PayloadDecision, false_positive_probability

__all__ = ["PAYLOAD_BITS", "PayloadCodec", "PayloadDecision", "false_positive_probability"]
