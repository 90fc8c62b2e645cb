"""Image features (after mining and the projector) cached across turns, requests and callers.

The key is a digest of the preprocessed pixels of one image (its LR views and its HR view), which
folds in the image content and every processor setting that reaches the model, together with the
model's identity, dtype and device. Entries are evicted least-recently-used under a byte budget.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
import weakref
from collections import OrderedDict

import torch

DEFAULT_FEATURE_CACHE_BYTES = 256 * 2**20

_model_tokens: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _model_token(model) -> str:
    """A name for this model object (a new object, even at the same address, gets a new one)."""
    if model not in _model_tokens:
        _model_tokens[model] = uuid.uuid4().hex
    return _model_tokens[model]


def _digest(tensor: torch.Tensor, into) -> None:
    tensor = tensor.detach().contiguous().cpu()
    into.update(f"{tuple(tensor.shape)}{tensor.dtype}".encode())
    into.update(tensor.view(torch.uint8).numpy().tobytes())


def image_keys(model, pixel_values: torch.Tensor | None, pixel_values_aux: torch.Tensor | None = None) -> list[str]:
    """One key per image: pixel_values [I, V, 3, s, s] (or [I, 3, s, s]), pixel_values_aux [I, 3, H, H]."""
    if pixel_values is None:
        return []
    owner = f"{_model_token(model)}|{model.dtype}|{model.device}".encode()
    keys = []
    for i in range(pixel_values.shape[0]):
        h = hashlib.blake2b(owner, digest_size=20)
        _digest(pixel_values[i], h)
        if pixel_values_aux is not None:
            _digest(pixel_values_aux[i], h)
        keys.append(h.hexdigest())
    return keys


class ImageFeatureCache:
    """LRU of projected image features [V*N, H] by `image_keys` key, at most `max_bytes` in all (thread-safe)."""

    def __init__(self, max_bytes: int = DEFAULT_FEATURE_CACHE_BYTES):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> torch.Tensor | None:
        with self._lock:
            features = self._entries.get(key)
            if features is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return features

    def put(self, key: str, features: torch.Tensor) -> None:
        size = features.numel() * features.element_size()
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return
            self._entries[key] = features
            self.nbytes += size
            while self.nbytes > self.max_bytes:
                _, old = self._entries.popitem(last=False)
                self.nbytes -= old.numel() * old.element_size()

    @torch.inference_mode()
    def features(self, model, keys: list[str], pixel_values: torch.Tensor, pixel_values_aux: torch.Tensor | None) -> list[torch.Tensor]:
        """Features of each image (in order), running the towers only on the images not cached."""
        found = [self.get(key) for key in keys]
        missing = [i for i, f in enumerate(found) if f is None]
        if missing:
            rows = torch.tensor(missing)
            aux = None if pixel_values_aux is None else pixel_values_aux[rows].to(model.device, model.dtype)
            fresh = model.get_image_features(pixel_values[rows].to(model.device, model.dtype), aux).pooler_output
            for i, features in zip(missing, fresh):
                found[i] = features = features.clone() if len(missing) > 1 else features  # own its memory
                self.put(keys[i], features)
        return found

