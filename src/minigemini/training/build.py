"""Build the starting model and processor that a recipe describes (tiny, one of our folders, or LLM + towers)."""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

from ..configuration import MiniGeminiConfig
from ..modeling import MiniGeminiForConditionalGeneration
from ..processing import MiniGeminiProcessor, add_image_token
from .recipe import ModelSpec


def build_tiny(spec: ModelSpec):
    """`model.tiny` = kwargs of `build_tiny_model_and_processor`, plus `llm_init_std`.

    A random LLM at the usual 0.02 init emits near-uniform logits that no stage-1 adapter can steer
    (the loss sits at ln(vocab)); `llm_init_std` redraws the LLM's matrices wider, deterministically.
    `llm_qk_init_std` draws the attention query/key projections at their own std instead: at 0.3 and width 96
    the attention logits have std ~9, the softmax starts near one-hot and passes almost no gradient.
    """
    from ..tiny import build_tiny_model_and_processor

    kwargs = dict(spec.tiny or {})
    std = kwargs.pop("llm_init_std", None)
    qk_std = kwargs.pop("llm_qk_init_std", std)
    kwargs.setdefault("aux_drop_path_in_training", spec.hr_drop_path_in_training)
    model, processor = build_tiny_model_and_processor(**kwargs)
    if std is not None:
        generator = torch.Generator().manual_seed(int(kwargs.get("seed", 0)) + 1)
        with torch.no_grad():
            for name, weight in model.language_model.named_parameters():
                if weight.ndim == 2:
                    scale = qk_std if name.endswith(("q_proj.weight", "k_proj.weight")) else std
                    weight.copy_(torch.randn(weight.shape, generator=generator) * scale)
    return model, processor


def build_from_folder(spec: ModelSpec):
    model = MiniGeminiForConditionalGeneration.from_pretrained(spec.init_from, attn_implementation=spec.attn_implementation)
    model.config.aux_drop_path_in_training = spec.hr_drop_path_in_training
    if model.aux_vision_tower is not None:
        model.aux_vision_tower.drop_path_in_training = spec.hr_drop_path_in_training
    return model, MiniGeminiProcessor.from_pretrained(spec.init_from)


def build_from_parts(spec: ModelSpec, quantization_config=None):
    """Base LLM + LR tower (pretrained) + HR ConvNeXt (pretrained transformers ConvNext, or random)."""
    tokenizer = AutoTokenizer.from_pretrained(spec.llm)
    text_config = AutoConfig.from_pretrained(spec.llm)
    vision_config = AutoConfig.from_pretrained(spec.vision_tower)
    vision_config = getattr(vision_config, "vision_config", vision_config)  # a full CLIP repo -> its vision part
    aux_config = None
    if spec.hr_tower:
        aux_config = AutoConfig.from_pretrained(spec.hr_tower)
    elif spec.hr_tower_config:
        aux_config = dict(model_type="convnext", **spec.hr_tower_config)
    from ..templates import infer_template

    template = spec.template or infer_template("mgm", text_config.model_type, tokenizer)
    config = MiniGeminiConfig(
        text_config=text_config,
        vision_config=vision_config,
        aux_vision_config=aux_config,
        aux_image_size=spec.aux_image_size,
        image_grid=spec.image_grid,
        image_global=spec.image_global,
        mining=spec.mining,
        image_aspect_ratio=spec.aspect_ratio,
        image_token_id=add_image_token(tokenizer),
        tokenizer_model_max_length=spec.max_length,
        template=template,
        aux_drop_path_in_training=spec.hr_drop_path_in_training,
    )
    config._attn_implementation = spec.attn_implementation
    model = _assemble(config, spec, len(tokenizer), quantization_config)
    model.freeze_vision_towers()
    return model, MiniGeminiProcessor.from_config(tokenizer, config)


def _assemble(config: MiniGeminiConfig, spec: ModelSpec, vocab_size: int, quantization_config=None):
    """The MGM shell on the meta device (nothing random is computed for parts that get loaded), then the
    pretrained LLM, LR tower and HR tower; only projector and mining are freshly initialised."""
    from accelerate import init_empty_weights

    pretrained_hr = bool(spec.hr_tower)
    with init_empty_weights(include_buffers=False):
        model = MiniGeminiForConditionalGeneration(config)
    llm = AutoModelForCausalLM.from_pretrained(
        spec.llm, attn_implementation=spec.attn_implementation, quantization_config=quantization_config
    )
    llm.resize_token_embeddings(vocab_size)  # room for the <image> placeholder
    model.language_model = llm
    model.config.text_config = llm.config
    tower_cls = type(model.vision_tower.model)  # CLIPVisionModel / SiglipVisionModel / Dinov2Model
    model.vision_tower.model = tower_cls.from_pretrained(spec.vision_tower, config=config.vision_config)
    if model.aux_vision_tower is not None:
        if pretrained_hr:
            hr = AutoModel.from_pretrained(spec.hr_tower).state_dict()
            mapped = {k.replace("encoder.stages.", "stages."): v for k, v in hr.items() if not k.startswith(("layernorm", "pooler"))}
            missing, _ = model.aux_vision_tower.load_state_dict(mapped, strict=False, assign=True)
            if missing:
                raise ValueError(f"hr_tower {spec.hr_tower}: weights missing for {missing[:3]}; give a transformers ConvNext checkpoint.")
        else:  # benchmarks: a random ConvNeXt built for real
            model.aux_vision_tower = type(model.aux_vision_tower)(config.aux_vision_config, config.aux_drop_path_in_training)
    for name in ("mining", "projector"):
        module = getattr(model, name)
        if module is not None:
            module.to_empty(device="cpu")
            model._init_weights(module)
    return model


def build_model_and_processor(spec: ModelSpec, quantization_config=None):
    """The starting model and its processor (towers frozen)."""
    if spec.tiny is not None:
        model, processor = build_tiny(spec)
    elif spec.init_from is not None:
        model, processor = build_from_folder(spec)
    else:
        model, processor = build_from_parts(spec, quantization_config)
    model.freeze_vision_towers()
    return model, processor
