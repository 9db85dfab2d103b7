"""Dataset builders, transforms and collators. Import from the submodules, e.g.
`hfmodels.data.char_gpt` (knowledge-access study) or `hfmodels.data.minbert` (multitask BERT)."""
