"""Image detectors: a frequency-artifact CNN on log-DCT patches and two scikit-learn baselines (log-DCT, spectrum).

Nothing here imports torch, timm or scikit-learn at import time; the registry loads the classes lazily.
"""
