"""transformers' own generic tests (`ModelTesterMixin`, `ConfigTester` of the installed version's sdist)
on the three character GPT variants; the skips are the features docs/conventions.md lists as unsupported."""

from __future__ import annotations

import tempfile
import unittest

import pytest
from char_gpt_model_tester import CharGPTModelTester, transformers_test_package

from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM, CharGPTModel

common = transformers_test_package()

# The generic tests check deprecation warnings, which the project's pytest settings ignore elsewhere.
pytestmark = pytest.mark.filterwarnings("default::FutureWarning", "default::DeprecationWarning")


class _CharGPTCommonTests(common.ModelTesterMixin):
    attention_type = "vanilla"
    all_model_classes = (CharGPTModel, CharGPTForCausalLM)
    test_pruning = False
    test_resize_embeddings = True
    test_torch_exportable = True

    def setUp(self):
        self.model_tester = CharGPTModelTester(self, self.attention_type)
        self.config_tester = common.ConfigTester(self, config_class=CharGPTConfig, n_embd=32)

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        # As the mixin does for the causal LMs in transformers' own mapping (ours is registered at run time).
        inputs = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if return_labels and model_class is CharGPTForCausalLM:
            inputs["labels"] = inputs["input_ids"].clone()
        return inputs

    def test_config(self):
        self.config_tester.run_common_tests()

    def test_training(self):
        # The mixin skips a bare model (no loss) by its name in transformers' own mapping, which
        # CharGPTModel is not in; the loss-bearing class is trained.
        self.all_model_classes = (CharGPTForCausalLM,)
        super().test_training()

    def check_training_gradient_checkpointing(self, *args, **kwargs):
        # As in test_training: the bare model has no loss to train with.
        self.all_model_classes = (CharGPTForCausalLM,)
        super().check_training_gradient_checkpointing(*args, **kwargs)

    def test_sdpa_can_dispatch_non_composite_models(self):
        # The mixin's version expects SDPA as the default; this model's default is its own "char_gpt"
        # kernel (docs/conventions.md, "Attention implementations and caches"), so the same dispatch is
        # checked with that default.
        for model_class in self.all_model_classes:
            config, _ = self.model_tester.prepare_config_and_inputs_for_common()
            with tempfile.TemporaryDirectory() as tmp:
                model_class(config).save_pretrained(tmp)
                for requested, expected in ((None, "char_gpt"), ("sdpa", "sdpa"), ("eager", "eager")):
                    kwargs = {} if requested is None else {"attn_implementation": requested}
                    model = model_class.from_pretrained(tmp, **kwargs)
                    self.assertEqual(model.config._attn_implementation, expected)
                    for module in model.modules():
                        if type(module).__name__.endswith("Attention"):
                            self.assertEqual(module.config._attn_implementation, expected)

    def test_generation_tester_mixin_inheritance(self):
        self.skipTest("GenerationTesterMixin is not shipped in the transformers sdist (docs/conventions.md)")


class CharGPTVanillaCommonTest(_CharGPTCommonTests, unittest.TestCase):
    attention_type = "vanilla"


class CharGPTSynthesizerCommonTest(_CharGPTCommonTests, unittest.TestCase):
    attention_type = "synthesizer"


class CharGPTPerceiverCommonTest(_CharGPTCommonTests, unittest.TestCase):
    attention_type = "perceiver"

    def test_attention_outputs(self):
        self.skipTest(
            "the perceiver's attentions are (m x inputs), (m x m) and (inputs x m), not (inputs x inputs) "
            "(docs/conventions.md); tests/test_char_gpt_modeling.py checks them"
        )
