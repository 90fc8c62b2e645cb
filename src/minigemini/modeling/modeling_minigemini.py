"""`MiniGeminiForConditionalGeneration`: two vision towers, patch info mining, a projector and any causal LM."""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModelForCausalLM, GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling, CausalLMOutputWithPast

from ..configuration import MiniGeminiConfig
from .mining import PatchInfoMining
from .projector import build_projector
from .towers import HighResConvNeXtTower, LowResVisionTower


def build_image_modules(config: MiniGeminiConfig, aux_drop_path_in_training: bool):
    """The image path's modules: (LR tower, HR tower or None, PatchInfoMining or None, projector).

    Shared by the transformers model and the vLLM plugin, so both build the same modules with the same names.
    """
    vision_tower = LowResVisionTower(config.vision_config, config.vision_feature_layer, config.vision_feature_select)
    lr_dim = vision_tower.hidden_size
    aux_vision_tower = mining = None
    if config.mining:
        if config.vision_feature_select != "patch":
            raise ValueError("Patch info mining needs vision_feature_select='patch' (one query per patch).")
        aux_vision_tower = HighResConvNeXtTower(config.aux_vision_config, aux_drop_path_in_training)
        mining = PatchInfoMining(lr_dim, aux_vision_tower.stage_dims, config.mining_chunk_channels)
    projector = build_projector(config.projector_type, lr_dim, config.text_config.hidden_size)
    return vision_tower, aux_vision_tower, mining, projector


class MiniGeminiPreTrainedModel(PreTrainedModel):
    config: MiniGeminiConfig
    config_class = MiniGeminiConfig
    base_model_prefix = ""
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _no_split_modules = ["CLIPEncoderLayer", "ConvNextLayer", "LlamaDecoderLayer", "GemmaDecoderLayer"]
    _skip_keys_device_placement = "cache"

    def _init_weights(self, module):
        if isinstance(module, PatchInfoMining) or module is getattr(self, "projector", None):
            for sub in module.modules():
                if isinstance(sub, nn.Linear):
                    nn.init.normal_(sub.weight, std=getattr(self.config.text_config, "initializer_range", 0.02))
                    nn.init.zeros_(sub.bias)
                elif isinstance(sub, nn.LayerNorm):
                    nn.init.ones_(sub.weight)
                    nn.init.zeros_(sub.bias)


class MiniGeminiForConditionalGeneration(MiniGeminiPreTrainedModel, GenerationMixin):
    """Mini-Gemini: image features replace the placeholder tokens of the prompt, then any causal LM runs.

    Inputs (from `MiniGeminiProcessor`):
        input_ids [B, T]: text with `config.image_token_id` repeated `config.image_seq_length` times per image.
        pixel_values [I, V, 3, s, s]: V LR views per image, in token order ([global, crop00, crop01, ...] in HD).
        pixel_values_aux [I, 3, H, H]: the HR view of each image (only when `config.mining`).
    I counts the images of the whole batch, in the order their placeholders appear.
    """

    def __init__(self, config: MiniGeminiConfig):
        super().__init__(config)
        self.vision_tower, self.aux_vision_tower, self.mining, self.projector = build_image_modules(
            config, config.aux_drop_path_in_training)
        self.language_model = AutoModelForCausalLM.from_config(config.text_config)
        self.freeze_vision_towers()
        self.post_init()
        image_id = config.image_token_id
        if image_id is not None and image_id < config.text_config.vocab_size and self.generation_config is not None:
            # The placeholder has an embedding row in some vocabularies; never let generate() emit it.
            suppress = list(self.generation_config.suppress_tokens or [])
            self.generation_config.suppress_tokens = sorted(set(suppress) | {image_id})

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """Our folder or hub id, or an official MGM checkpoint folder (`model_type` mgm*/mini_gemini*).

        For official folders, `lr_tower=`/`hr_tower=` override where the towers are read from when the
        checkpoint does not hold them, and `template=` overrides the inferred conversation template.
        """
        from ..official import check_model_type, is_official_checkpoint, local_checkpoint

        local = local_checkpoint(pretrained_model_name_or_path) if pretrained_model_name_or_path is not None else None
        if local is not None:
            check_model_type(local)
            if is_official_checkpoint(local):
                return cls._from_official(local, **kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    @classmethod
    def _from_official(cls, path, lr_tower=None, hr_tower=None, template=None, torch_dtype=None, dtype=None, **kwargs):
        """Load the translation of an official folder through transformers' own loader: built on the meta
        device, weights assigned once, old LLM layouts (Mixtral 4.36 experts) converted by its mapping."""
        from ..official import CheckpointError, read_official
        from ..quiet import quiet_transformers

        dtype = dtype or torch_dtype or torch.float32
        as_read = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype  # "float32"; not "auto"
        # converted as read, file by file: the shards and the model's weights are never all resident together
        official = read_official(path, lr_tower=lr_tower, hr_tower=hr_tower, template=template,
                                 dtype=as_read if isinstance(as_read, torch.dtype) else None)
        with quiet_transformers():  # its bars and config advice concern the translation, not the user
            model, info = super().from_pretrained(
                None, config=official.config, state_dict=official.state_dict,
                dtype=dtype, output_loading_info=True, **kwargs,
            )
        missing = sorted(info["missing_keys"])
        unexpected = sorted(map(str, info["unexpected_keys"] | info["mismatched_keys"]))
        if missing or unexpected:
            raise CheckpointError(
                f"{path}: weights do not match the inferred architecture; missing {missing[:5]}, unexpected {unexpected[:5]}."
            )
        return model

    # ---- plumbing for transformers (resize, peft, generate) ---------------------------------------
    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self):
        return self.language_model.get_output_embeddings()

    def set_output_embeddings(self, value):
        self.language_model.set_output_embeddings(value)

    def get_decoder(self):
        return self.language_model.get_decoder()

    def freeze_vision_towers(self) -> None:
        """Both towers are frozen by default (as in every official recipe)."""
        for tower in (self.vision_tower, self.aux_vision_tower):
            if tower is not None:
                tower.requires_grad_(False)

    # ---- images -----------------------------------------------------------------------------------
    def _run_tower(self, tower: nn.Module, pixels: torch.Tensor):
        trainable = any(p.requires_grad for p in tower.parameters())
        with torch.set_grad_enabled(trainable and torch.is_grad_enabled()):
            return tower(pixels)

    def encode_views(
        self, pixel_values: torch.Tensor, pixel_values_aux: torch.Tensor | None = None, return_attention: bool = False
    ):
        """LR tokens after mining, before the projector: [I, V*N, C_lr] (and the mining attention [I, V, N, M²])."""
        cfg = self.config
        if pixel_values.dim() == 4:  # [I, 3, s, s]: one view per image
            pixel_values = pixel_values.unsqueeze(1)
        n_img, n_views = pixel_values.shape[:2]
        if n_views != cfg.num_views:
            raise ValueError(f"pixel_values has {n_views} views per image; this model expects {cfg.num_views}.")
        lr = self._run_tower(self.vision_tower, pixel_values.flatten(0, 1))
        lr = lr.view(n_img, n_views, *lr.shape[1:])
        if self.mining is None:
            return (lr.flatten(1, 2), None) if return_attention else lr.flatten(1, 2)
        if pixel_values_aux is None:
            raise ValueError("This model mines HR features: pass pixel_values_aux (the processor makes it).")
        stages = self._run_tower(self.aux_vision_tower, pixel_values_aux)
        view_size = stages[0].shape[-1] // cfg.image_grid  # HR map side per view (192 for 768 or 1536/2)
        tokens, attentions = [], []

        def mine(queries, size, halve=False):  # queries [I, V', N, C]: the views tiling the map of side `size`
            out, attn = self.mining(queries, stages, size, halve, return_attention=True)
            tokens.append(out.flatten(1, 2))
            attentions.append(attn.flatten(1, 2))

        if cfg.image_grid == 1:
            mine(lr[:, :1], view_size)
        else:
            if cfg.image_global:
                mine(lr[:, :1], view_size * cfg.image_grid, halve=True)
            mine(lr[:, 1 if cfg.image_global else 0 :], view_size * cfg.image_grid)
        feats = torch.cat(tokens, dim=1)
        if return_attention:
            attn = torch.cat(attentions, dim=1)
            return feats, attn.view(n_img, n_views, -1, attn.shape[-1])
        return feats

    def get_image_features(
        self, pixel_values: torch.Tensor, pixel_values_aux: torch.Tensor | None = None, **kwargs
    ) -> BaseModelOutputWithPooling:
        """Projected image features: `pooler_output` is a list with one [V*N, H] tensor per image.

        The LLM's embedding scale (Gemma's sqrt(hidden)) is applied here, exactly as the official model
        applies it to the spliced sequence.
        """
        feats = self.projector(self.encode_views(pixel_values, pixel_values_aux))
        scale = getattr(self.get_input_embeddings(), "embed_scale", None)
        if scale is not None:
            feats = feats * scale.to(feats.dtype)
        return BaseModelOutputWithPooling(last_hidden_state=feats, pooler_output=list(feats))

    def embed_with_images(self, input_ids: torch.Tensor, image_features: list[torch.Tensor] | None) -> torch.Tensor:
        """Embed text and scatter image features into the placeholder positions: [B, T, H]."""
        image_mask = input_ids == self.config.image_token_id
        embeds = self.get_input_embeddings()(input_ids.masked_fill(image_mask, 0))
        n_placeholders = int(image_mask.sum())
        n_features = sum(f.shape[0] for f in image_features) if image_features else 0
        if n_placeholders != n_features:
            per_image = self.config.image_seq_length
            raise ValueError(
                f"The prompt has {n_placeholders} image placeholder tokens ({n_placeholders / per_image:g} images) "
                f"but {n_features // per_image} images were given. Use one '<image>' marker per image and let "
                "MiniGeminiProcessor expand them."
            )
        if n_features:
            feats = torch.cat(image_features, 0).to(embeds.device, embeds.dtype)
            embeds = embeds.masked_scatter(image_mask.unsqueeze(-1), feats)
        return embeds

    # ---- forward ----------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_aux: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        mm_encoder_outputs: dict | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        if "past_key_values" in kwargs:  # the pre-5 name of `cache`, as the LLMs' own forward still accepts it
            if cache is not None:
                raise ValueError("Pass the KV cache as `cache` only, not also as `past_key_values`.")
            cache = kwargs.pop("past_key_values")
        if inputs_embeds is None:
            encoded = (mm_encoder_outputs or {}).get("image")
            if encoded is None and pixel_values is not None:
                encoded = self.get_image_features(pixel_values, pixel_values_aux)
            inputs_embeds = self.embed_with_images(input_ids, encoded.pooler_output if encoded is not None else None)
        return self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            labels=labels,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )

    def mining_attention(self, pixel_values: torch.Tensor, pixel_values_aux: torch.Tensor) -> torch.Tensor:
        """Where each LR token looked inside its HR window: [I, V, N, M*M] softmax weights (for plots)."""
        if self.mining is None:
            raise ValueError("This model has mining=False: there is no mining attention to show.")
        with torch.no_grad():
            return self.encode_views(pixel_values, pixel_values_aux, return_attention=True)[1]

