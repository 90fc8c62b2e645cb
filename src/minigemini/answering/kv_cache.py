"""`AppendOnlyCache`: transformers' `DynamicCache` whose full-attention layers append in place.

transformers' `DynamicLayer` appends a decode step with `torch.cat`, copying every cached key and value of the
layer at every token: for a 667-token prompt on SmolLM2-135M that was 13% of a decode step on two CPU cores
(`aten::cat`, 60 copies per token). `AppendLayer` keeps keys and values in buffers [B, H, capacity, D] with room
for `GROW` more tokens and writes each step into the next slots; `keys`/`values` are views of the filled part,
so attention sees exactly the same numbers. Anything that replaces `keys` from outside (crop, beam reordering,
a deep copy that lost the view) is noticed on the next append, which then copies once into fresh buffers.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

GROW = 256  # spare tokens per reallocation: at most this many unused slots per layer, one copy per GROW tokens


class AppendLayer(DynamicLayer):
    """A `DynamicLayer` that appends into preallocated buffers instead of concatenating."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        """Append key/value states [B, H, T, D]; returns all keys and values so far [B, H, N + T, D] (views)."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        length, new = self.get_seq_length(), key_states.shape[-2]
        buffers = getattr(self, "_buffers", None)
        if (buffers is None or self.keys is not self._views[0] or self.values is not self._views[1]
                or length + new > buffers[0].shape[-2]):
            buffers = self._buffers = self._reallocate(key_states, value_states, length + new + GROW)
        buffers[0][..., length : length + new, :].copy_(key_states)
        buffers[1][..., length : length + new, :].copy_(value_states)
        self.keys, self.values = (b[..., : length + new, :] for b in buffers)
        self._views = (self.keys, self.values)
        return self.keys, self.values

    def _reallocate(self, key_states: torch.Tensor, value_states: torch.Tensor, capacity: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh buffers with room for `capacity` tokens, holding the keys and values cached so far."""
        out = []
        for cached, new in ((self.keys, key_states), (self.values, value_states)):
            buffer = new.new_empty((*new.shape[:-2], capacity, new.shape[-1]))
            if cached.numel():
                buffer[..., : cached.shape[-2], :].copy_(cached)
            out.append(buffer)
        return out[0], out[1]

    def reset(self) -> None:
        self._buffers = None
        super().reset()


class AppendOnlyCache(DynamicCache):
    """`DynamicCache(config=...)` with `AppendLayer` for its full-attention layers (sliding-window ones stay
    transformers' own). Same contents, same API (crop, reordering, the prefix cache's deep copies)."""

    def __init__(self, config):
        super().__init__(config=config)
        self.layers = [AppendLayer() if type(layer) is DynamicLayer else layer for layer in self.layers]
