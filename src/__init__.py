"""The study's stages (``python -m src.<stage>``) and the libraries they share."""
import os

# TensorFlow's C++ INFO and WARNING lines (oneDNN notices, CPU-feature and XLA banners) drown
# a run's own output; errors still show. Set before any module imports TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
