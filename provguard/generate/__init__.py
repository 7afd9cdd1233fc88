"""The reference generator and the real-media corpus it is trained and tested against."""
