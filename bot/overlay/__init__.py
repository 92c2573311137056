"""The overlay contract, driven by `promotion.yaml`: read, edit and validate an environment's pins.

- `pins`: the pin grammar (which fields pin what, and what a valid pin looks like);
- `document`, `scalars`, `editor`, `changes`: the byte-preserving kustomization editor;
- `render`, `schema`, `pss`, `validate`: the offline validator (`promotion-bot validate`).

`bot.kustomize` is the editor's public face (`set_pins`, `edit_text`, `read_pins_text`).
"""
