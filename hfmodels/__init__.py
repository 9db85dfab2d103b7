"""hfmodels: Transformer course systems as Hugging Face models.

Importing the package registers every model family with the transformers Auto classes,
so a saved model folder loads with `AutoConfig`, `AutoModel*` and `AutoTokenizer` without
`trust_remote_code`, and the multitask BERT's `pipeline("multitask-bert")` with
`transformers.pipelines.PIPELINE_REGISTRY` (for model objects and folders without
`custom_pipelines`; a folder the model saved declares its own copy of the pipeline, which
transformers runs with `trust_remote_code=True`, see docs/conventions.md, "Remote code").
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)
from transformers.pipelines import PIPELINE_REGISTRY

from .addsub import AddSubConfig, AddSubTokenizer, AddSubTransformerForConditionalGeneration
from .char_gpt import CharGPTConfig, CharGPTForCausalLM, CharGPTModel, CharTokenizer, CharTokenizerFast
from .lstm_lm import LstmLMConfig, LstmLMForCausalLM, LstmLMModel, LstmLMTokenizer
from .multitask_bert import MultitaskBertConfig, MultitaskBertForSequenceClassification, MultitaskBertModel
from .multitask_bert.pipeline_multitask_bert import MultitaskBertPipeline

__version__ = "0.1.0"

AutoConfig.register("addsub", AddSubConfig, exist_ok=True)
AutoModelForSeq2SeqLM.register(AddSubConfig, AddSubTransformerForConditionalGeneration, exist_ok=True)
AutoTokenizer.register(AddSubConfig, slow_tokenizer_class=AddSubTokenizer, exist_ok=True)
AutoConfig.register("char_gpt", CharGPTConfig, exist_ok=True)
AutoModel.register(CharGPTConfig, CharGPTModel, exist_ok=True)
AutoModelForCausalLM.register(CharGPTConfig, CharGPTForCausalLM, exist_ok=True)
AutoTokenizer.register(
    CharGPTConfig, slow_tokenizer_class=CharTokenizer, fast_tokenizer_class=CharTokenizerFast, exist_ok=True
)
AutoConfig.register("multitask_bert", MultitaskBertConfig, exist_ok=True)
AutoModel.register(MultitaskBertConfig, MultitaskBertModel, exist_ok=True)
AutoModelForSequenceClassification.register(
    MultitaskBertConfig, MultitaskBertForSequenceClassification, exist_ok=True
)
if "multitask-bert" not in PIPELINE_REGISTRY.supported_tasks:  # registered once per process
    PIPELINE_REGISTRY.register_pipeline(
        "multitask-bert", pipeline_class=MultitaskBertPipeline, pt_model=AutoModel, type="text"
    )
AutoConfig.register("lstm_lm", LstmLMConfig, exist_ok=True)
AutoModel.register(LstmLMConfig, LstmLMModel, exist_ok=True)
AutoModelForCausalLM.register(LstmLMConfig, LstmLMForCausalLM, exist_ok=True)
AutoTokenizer.register(LstmLMConfig, fast_tokenizer_class=LstmLMTokenizer, exist_ok=True)

__all__ = [
    "AddSubConfig",
    "AddSubTokenizer",
    "AddSubTransformerForConditionalGeneration",
    "CharGPTConfig",
    "CharGPTForCausalLM",
    "CharGPTModel",
    "CharTokenizer",
    "LstmLMConfig",
    "LstmLMForCausalLM",
    "LstmLMModel",
    "LstmLMTokenizer",
    "__version__",
]
