"""Make a tiny random checkpoint say one exact answer to one exact prompt (a few dozen optimizer steps)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from minigemini.modeling import MiniGeminiForConditionalGeneration
from minigemini.processing import MiniGeminiProcessor


def teach_answer(checkpoint: Path, out: Path, messages: list[dict], images: list[Image.Image], answer: str, steps: int = 300) -> Path:
    """Overfit `checkpoint` until greedy decoding of `messages` (template applied) yields `answer` + EOS."""
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
