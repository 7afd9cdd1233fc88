"""Audio spoof detectors: an LCNN on log spectrograms and an LFCC-GMM baseline, trained on corpus speech vs vocoded fakes.

Modules: features (LFCC, log spectrogram), augment (MP3, resampling, noise), data (real/fake sets, cached fakes),
scoring (input checks, 1 s windows, regions), lcnn (LcnnDetector), baselines (LfccGmmDetector), train.
"""
