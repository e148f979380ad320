"""Video data: datasets, decoding, clip sampling and the generated mini benchmark."""
