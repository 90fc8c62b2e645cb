"""KV prefixes kept across chat turns and requests, so a new prompt prefills only the tokens it does not share.

An entry is the token ids whose keys/values a `DynamicCache` holds and the keys of the images in them.
A new prompt reuses the longest entry prefix that matches token for token and whose image placeholders
stand for the same images (placeholders are the same id for every image, so the image keys decide).
An entry the new prompt extends whole is taken out (generation extends it in place) and the caller stores
the extended one; an entry that shares only a beginning (a system prompt and image) stays, and a copy is cut.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch

DEFAULT_PREFIX_CACHE_BYTES = 2 * 2**30


@dataclass
class Prefix:
    """A cache ready for `generate(cache=...)`: it holds the first `length` tokens, covering `images` images."""

    cache: object
    length: int
    images: int


def cache_bytes(cache) -> int:
    """Bytes held by a cache's keys and values, spare room of their buffers included (`kv_cache.AppendLayer`)."""
    return sum(t.untyped_storage().nbytes() for layer in cache.layers for t in (layer.keys, layer.values)
               if isinstance(t, torch.Tensor))


def shared_length(ids: torch.Tensor, image_keys: list[str], entry_ids: torch.Tensor, entry_keys: list[str],
                  image_token_id: int, image_seq_length: int) -> tuple[int, int]:
    """(tokens, images) of `ids` [T] that `entry_ids` already holds, leaving at least one token to prefill."""
    n = min(len(ids), len(entry_ids))
    differ = (ids[:n] != entry_ids[:n]).nonzero()
    length = min(int(differ[0]) if len(differ) else n, len(ids) - 1)
    starts = (ids == image_token_id).nonzero().flatten()[::image_seq_length].tolist()
    images = 0
    for i, start in enumerate(starts):
        if start >= length:
            break
        if start + image_seq_length > length or i >= len(entry_keys) or image_keys[i] != entry_keys[i]:
            length = start
            break
        images = i + 1
    return max(length, 0), images


class PrefixCache:
    """Bounded store of KV prefixes (LRU, `max_bytes` in all, at most `max_entries`); thread-safe."""

    def __init__(self, image_token_id: int, image_seq_length: int, max_bytes: int = DEFAULT_PREFIX_CACHE_BYTES,
                 max_entries: int = 4):
        self.image_token_id, self.image_seq_length = image_token_id, image_seq_length
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self._entries: OrderedDict[int, tuple[torch.Tensor, list[str], object, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._next = 0
        self.nbytes = 0

    def take(self, ids: torch.Tensor, image_keys: list[str]) -> Prefix | None:
        """A cache holding the longest usable prefix of `ids` [T] (the entry itself when `ids` extends all of it)."""
        with self._lock:
            best, best_shared = None, (0, 0)
            for name, (entry_ids, entry_keys, _, _) in self._entries.items():
                shared = shared_length(ids, image_keys, entry_ids, entry_keys, self.image_token_id, self.image_seq_length)
                if shared[0] > best_shared[0]:
                    best, best_shared = name, shared
            if best is None:
                return None
            entry_ids, _, cache, size = self._entries[best]
            if best_shared[0] < len(entry_ids):  # a shared beginning (system prompt, image): the entry stays
                self._entries.move_to_end(best)
                cache = copy.deepcopy(cache)
            else:  # the same conversation goes on: generation extends this very cache
                del self._entries[best]
                self.nbytes -= size
        if (extra := cache.get_seq_length() - best_shared[0]) > 0:
            cache.crop(-extra)  # transformers' crop takes the number of tokens to drop, negated
        return Prefix(cache, *best_shared)

    def put(self, ids: torch.Tensor, image_keys: list[str], cache) -> None:
        """Keep `cache`, which holds the keys/values of `ids` [T] (and of the images `image_keys`)."""
        if not cache.is_croppable or cache.get_seq_length() != len(ids):
            return
        size = cache_bytes(cache)
        if size > self.max_bytes:
            return
        with self._lock:
            self._entries[self._next] = (ids.detach().cpu(), list(image_keys), cache, size)
            self._next += 1
            self.nbytes += size
            while self.nbytes > self.max_bytes or len(self._entries) > self.max_entries:
                _, (_, _, _, old) = self._entries.popitem(last=False)
                self.nbytes -= old
