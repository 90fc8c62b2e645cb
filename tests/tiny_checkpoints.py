"""Test helpers: tiny checkpoints written to folders, and a tiny model taught to say a given answer."""

from __future__ import annotations

from pathlib import Path

import torch

from minigemini.tiny import build_tiny_model_and_processor


def build_tiny_checkpoint(path: str | Path, **kwargs) -> Path:
    """Write a tiny random model + processor in our `from_pretrained` format; returns the folder."""
    model, processor = build_tiny_model_and_processor(**kwargs)
    path = Path(path)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def teach_answer(checkpoint: str | Path, out: str | Path, messages: list[dict], images: list, answer: str,
                 steps: int = 300) -> Path:
    """Overfit a tiny checkpoint until greedy decoding of `messages` (template applied) yields `answer` + EOS.

    For end-to-end tests that need a model to say something specific (an `<h>` prompt, a stop string).
    """
    from minigemini import MiniGeminiForConditionalGeneration, MiniGeminiProcessor

    model = MiniGeminiForConditionalGeneration.from_pretrained(checkpoint)
    processor = MiniGeminiProcessor.from_pretrained(checkpoint)
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(text=[prompt], images=[images])
    answer_ids = processor.tokenizer(answer, add_special_tokens=False)["input_ids"] + [processor.tokenizer.eos_token_id]
    ids = torch.cat([inputs["input_ids"], torch.tensor([answer_ids])], dim=1)
    labels = torch.full_like(ids, -100)
    labels[0, -len(answer_ids):] = torch.tensor(answer_ids)
    with torch.no_grad():  # the image part never changes: embed once, then train only the LM's layers
        features = model.get_image_features(inputs["pixel_values"], inputs.get("pixel_values_aux")).pooler_output
        embeds = model.embed_with_images(ids, features)
    lm = model.language_model
    lm.get_input_embeddings().requires_grad_(False)
    lm.train()
    optimizer = torch.optim.Adam([p for p in lm.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(steps):
        loss = lm(inputs_embeds=embeds, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.02:
            break
    model.eval()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
