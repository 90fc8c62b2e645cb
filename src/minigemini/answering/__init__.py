"""A conversation with images in, text out: inputs, the stop/EOS policy, streaming decoding and the caches."""

from .answerer import Answerer, decode_answer, user_turn
from .decoder import TextDecoder
from .features import ImageFeatureCache, image_keys
from .prefix import PrefixCache
from .stops import MAX_STOP_LENGTH, MAX_STOP_STRINGS, StopMatcher, cut_at_stops

__all__ = [
    "MAX_STOP_LENGTH",
    "MAX_STOP_STRINGS",
    "Answerer",
    "ImageFeatureCache",
    "PrefixCache",
    "StopMatcher",
    "TextDecoder",
    "cut_at_stops",
    "decode_answer",
    "image_keys",
    "user_turn",
]
